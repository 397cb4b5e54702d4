"""The ASGI factory uvicorn imports in each `lightfast serve` worker."""

from __future__ import annotations

from fastapi import FastAPI

from lightfast_pipeline.api.app import ApiConfig, create_app
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_api_settings


def app() -> FastAPI:
    """A worker's application, configured from the settings `lightfast serve` passed on."""
    settings = load_api_settings()
    config = ApiConfig(
        allow_local=settings.allow_local_paths,
        rate_per_minute=settings.rate_per_minute,
        rate_burst=settings.rate_burst,
    )
    # Every process migrates once: `lightfast serve` did already, so this is a version check.
    return create_app(Runtime(), config)

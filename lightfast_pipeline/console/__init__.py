"""The console: server-rendered pages over the service API's own route functions (issue 12)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount_console(app: FastAPI) -> None:
    """Add the console's pages, actions, static files and security headers to the API application."""
    from lightfast_pipeline.console import actions, pages
    from lightfast_pipeline.console.security import SecurityHeaders

    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)

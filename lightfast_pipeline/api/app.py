"""The application factory: routers, key authentication, body limit, error shape, MCP, `/healthz`.

A console router (issue 12) mounts with ``app.include_router(...)`` on the returned app; its session cookies
are its own, `KeyAuth` guards only ``/v1`` and ``/mcp``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import Route

from lightfast_pipeline.api.auth import KeyAuth
from lightfast_pipeline.api.errors import install_error_handlers
from lightfast_pipeline.api.limits import BodyLimit, RateLimiter
from lightfast_pipeline.api.mcp import build_mcp
from lightfast_pipeline.api.routers import activity, deliveries, github, jobs, repositories, search, workspace
from lightfast_pipeline.console import mount_console
from lightfast_pipeline.runtime import Runtime

VERSION = "1"


@dataclass(frozen=True)
class ApiConfig:
    """What `lightfast serve` decides per deployment."""

    allow_local: bool = False  # POST /v1/repositories may connect a directory on the server
    rate_per_minute: int = 600  # per key and worker process
    rate_burst: int = 120
    max_body_bytes: int = 64 * 1024


def create_app(runtime: Runtime | None = None, config: ApiConfig | None = None) -> FastAPI:
    """The `lightfast serve` ASGI application over ``runtime`` (the process Runtime when None)."""
    runtime = runtime or Runtime()
    config = config or ApiConfig()
    mcp_endpoint, mcp_sessions = build_mcp(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp_sessions.run():
            yield

    app = FastAPI(
        title="lightfast",
        version=VERSION,
        description="Workspaces, repositories, GitHub installations, jobs, statistics, activity and search.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.config = config
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness (no key needed)."""
        return {"status": "ok"}

    for module in (workspace, repositories, github, jobs, activity, deliveries, search):
        app.include_router(module.router)
    app.router.routes.append(Route("/mcp", endpoint=mcp_endpoint, methods=["GET", "POST", "DELETE"]))
    mount_console(app)  # the console's pages at /, behind its own session cookie (issue 12)
    limiter = RateLimiter(config.rate_per_minute, config.rate_burst)
    app.add_middleware(KeyAuth, runtime=runtime, limiter=limiter)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app

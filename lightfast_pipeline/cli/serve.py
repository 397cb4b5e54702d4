"""`lightfast serve`: the service API (FastAPI on uvicorn) over this machine's catalog and Dagster instance."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (the API is stateless)."),
    allow_local_paths: bool = typer.Option(
        False, "--allow-local-paths", help="Let admin keys connect git directories of this machine."
    ),
    rate_limit: int = typer.Option(600, "--rate-limit", min=1, help="Requests per minute per key and worker."),
    burst: int = typer.Option(120, "--burst", min=1, help="Requests a key may send at once."),
    exit_with_pid: int = typer.Option(None, "--exit-with-pid", help="Stop when this process exits."),
) -> None:
    """Serve /v1 (API keys), /mcp, /docs, /openapi.json, /healthz and the console at / (sign-in with a key)."""
    import os
    import signal
    import threading
    import time

    import uvicorn

    from lightfast_pipeline.cli.common import get_runtime

    get_runtime()  # migrate the catalog once, before any worker starts
    # Workers are fresh processes: the flags reach them through the environment (read by settings.py).
    os.environ["LIGHTFAST_API_ALLOW_LOCAL_PATHS"] = "1" if allow_local_paths else "0"
    os.environ["LIGHTFAST_API_RATE_LIMIT"] = str(rate_limit)
    os.environ["LIGHTFAST_API_BURST"] = str(burst)
    if exit_with_pid is not None:  # `lightfast dev`: stop with the UI (SIGTERM is uvicorn's graceful stop)
        from lightfast_pipeline.system.processes import process_exists

        def watch() -> None:
            while process_exists(exit_with_pid):
                time.sleep(1)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True).start()
    uvicorn.run(
        "lightfast_pipeline.api.server:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        # A worker imports Dagster and the services before it answers the supervisor's health pings: uvicorn's
        # default 5 s restarts workers in a loop on a busy machine (seen here under load).
        timeout_worker_healthcheck=120,
    )

"""`lightfast dev`: the Dagster UI (webserver + daemon) with this project loaded."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

from lightfast_pipeline.cli.common import fail, get_runtime


def dev(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the UI listens on."),
    port: int = typer.Option(3000, "--port", help="Port of the UI."),
) -> None:
    """Start the Dagster UI and daemon (sensors, schedules, run queue) on this project's instance."""
    runtime = get_runtime()
    beside = Path(sys.executable).parent / "dagster"
    dagster = str(beside) if beside.exists() else shutil.which("dagster")
    if dagster is None:
        fail("the `dagster` command is not installed in this environment")
    os.environ["DAGSTER_HOME"] = str(runtime.settings.dagster_home)
    os.execv(dagster, [dagster, "dev", "-m", "lightfast_pipeline.definitions", "-h", host, "-p", str(port)])

"""`lightfast dev`: the Dagster UI (webserver + daemon) with this project loaded, and the warm embedding service."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import typer

from lightfast_pipeline.cli.common import fail, get_runtime

API_PORT = 8080  # `lightfast serve`'s own default


def dev(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the UI listens on."),
    port: int = typer.Option(3000, "--port", help="Port of the UI."),
    api: bool = typer.Option(True, "--api/--no-api", help="Start the service API and console beside the UI."),
    api_port: int = typer.Option(API_PORT, "--api-port", min=1, max=65535, help="Port of the API and console."),
) -> None:
    """Start the Dagster UI and daemon (sensors, schedules, run queue) on this project's instance.

    Unless the embedder is the Cohere API, the warm embedding service (``lightfast embedder serve``) starts
    beside them, so runs do not each load the model; it stops when the UI does. So does the service API and
    console (``lightfast serve``, on ``--api-port``, 8080 by default) unless ``--no-api`` is given.
    """
    from lightfast_pipeline.runs.locations import workspace_yaml

    runtime = get_runtime()
    beside = Path(sys.executable).parent / "dagster"
    dagster = str(beside) if beside.exists() else shutil.which("dagster")
    if dagster is None:
        fail("the `dagster` command is not installed in this environment")
    os.environ["DAGSTER_HOME"] = str(runtime.settings.dagster_home)
    # Create the instance's storage here, once, before the processes that share it start: on a new home, Dagster
    # processes creating its SQLite run storage at the same moment can stamp its schema twice, and every later
    # start then fails ("alembic_version has more than one head"; seen with the daemon and a client at once).
    runtime.instance  # noqa: B018
    # dagster-dbt re-parses the dbt project at load under `dagster dev` (prepare_if_dev) with `dbt` from PATH
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if runtime.settings.embedder != "cohere":
        # exec keeps this pid, so the service watches the UI itself.
        serve = [sys.executable, "-m", "lightfast_pipeline.cli", "embedder", "serve", "--exit-with-pid"]
        subprocess.Popen([*serve, str(os.getpid())], start_new_session=True)
    if api:  # the service API (and the console that stands on it) next to the UI, stopping with it
        api = [sys.executable, "-m", "lightfast_pipeline.cli", "serve", "--host", host, "--port", str(api_port)]
        subprocess.Popen([*api, "--exit-with-pid", str(os.getpid())], start_new_session=True)
        typer.echo(f"console: http://{host}:{api_port}/ (sign in with a key from `lightfast keys create`)")
    workspace = runtime.settings.dagster_home / "workspace.yaml"  # named locations, as in production
    workspace.write_text(workspace_yaml())
    # Dagster's processes give SIGTERM whatever SIGINT does when they start, and an ignored signal stays ignored
    # across exec: started with SIGINT ignored (`lightfast dev &` in a script, nohup), they would ignore SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(dagster, [dagster, "dev", "-w", str(workspace), "-h", host, "-p", str(port)])

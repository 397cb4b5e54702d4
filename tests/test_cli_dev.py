"""`lightfast dev`: the real Dagster UI + daemon with both code locations, the warm embedding service and the
service API."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from lightfast_pipeline.runs.locations import CODE_LOCATIONS
from lightfast_pipeline.settings import Settings
from tests.conftest import PROJECT_ROOT

LOCATIONS_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loaded_locations(port: int) -> set[str]:
    """Names of the code locations the UI has loaded; a location that failed to load fails the test."""
    try:
        response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": LOCATIONS_QUERY}, timeout=5)
    except requests.RequestException:
        return set()
    entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
    for entry in entries:
        if (entry["locationOrLoadError"] or {}).get("__typename") == "PythonError":
            pytest.fail(f"code location {entry['name']} failed to load: {entry['locationOrLoadError']['message']}")
    return {entry["name"] for entry in entries if entry["loadStatus"] == "LOADED"}


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def api_healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_dev_serves_both_code_locations_the_embedding_service_and_the_api(
    lightfast_env: Settings, tmp_path: Path
) -> None:
    port, api_port = free_port(), free_port()
    log = (tmp_path / "dev.log").open("wb")
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "dev", "--port", str(port), "--api-port", str(api_port)]
    # Started as a script's background job is: SIGINT ignored. SIGTERM must stop it all the same.
    dev = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        wait_until(lightfast_env.embedder_socket.exists, 60, "the embedding service")
        wait_until(lambda: api_healthy(api_port), 180, "the service API")
        wait_until(lambda: loaded_locations(port) == {"lightfast_pipeline", "lightfast_metrics"}, 240, "the UI")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGTERM)
        # dagster dev stops the webserver, then the daemon, giving each up to 60 s before it kills it
        # (_SUBPROCESS_WAIT_TIMEOUT in dagster/_cli/dev.py): allow for both (a clean stop took seconds here).
        dev.wait(timeout=150)
    # The service and the API are in their own sessions: they stop because the process they serve is gone.
    wait_until(lambda: not lightfast_env.embedder_socket.exists(), 15, "the embedding service to stop")
    wait_until(lambda: not api_healthy(api_port), 30, "the service API to stop")
    assert f"console: http://127.0.0.1:{api_port}/" in (tmp_path / "dev.log").read_text()


def test_dev_starts_the_api_on_8080_unless_told_not_to() -> None:
    import typer

    from lightfast_pipeline.cli.app import app

    options = {param.name: param for param in typer.main.get_command(app).commands["dev"].params}
    api = options["api"]
    assert (api.default, api.opts, api.secondary_opts) == (True, ["--api"], ["--no-api"])
    assert options["api_port"].default == 8080


@pytest.mark.parametrize("path", ["workspace.yaml", "deploy/workspace.yaml"])
def test_workspace_files_list_the_project_code_locations(path: str) -> None:
    entries = yaml.safe_load((PROJECT_ROOT / path).read_text())["load_from"]
    listed = {entry["python_module"]["location_name"]: entry["python_module"]["module_name"] for entry in entries}
    assert listed == CODE_LOCATIONS

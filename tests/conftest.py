"""Shared fixtures: every test gets its own LIGHTFAST_HOME, catalog and Dagster instance directory."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from lightfast_pipeline.settings import Settings, load_settings
from tests.support.manifest import manifest_is_current, prepare_manifest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
TEST_EMBEDDER = "tests.support.embedders:HashingEmbedder"

pytest_plugins: list[str] = [
    "tests.support.github_fixtures",
    "tests.support.postgres",
    "tests.support.provider_fixtures",
    "tests.support.shared_fixtures",  # FIXTURES missing: its tests skip (one line), CI=true fails the run
]


def pytest_configure(config: pytest.Config) -> None:
    """Started in the background (``make test &``, nohup), pytest ignores SIGINT, and so would every process a test
    starts: Dagster's daemon, webserver and code servers then ignore SIGTERM too (they copy SIGINT's handler), and
    tests that stop them wait for their timeouts. Restore Python's default, as from a terminal."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# The files that take a minute or more (seconds on two workers at load 3-6, 2026-11-30), slowest first. The suite
# runs a file per worker at a time (scripts/test.sh): started last, one of them would leave the other worker idle.
SLOW_FILES = (
    "test_production_daemon.py",  # 420 s
    "test_cli_dev.py",  # 230 s
    "test_ingestion_processes.py",  # 200 s
    "test_production_fleet.py",  # 195 s
    "test_disconnect_race.py",  # 125 s
    "test_api.py",  # 90 s
    "test_corpus.py",  # 80 s
    "test_local_git_scale.py",  # 80 s
    "test_jobs_rollup.py",  # 65 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the slow files first (each file's tests keep their order)."""
    rank = {name: position for position, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


def pytest_sessionstart(session: pytest.Session) -> None:
    """The metrics code location loads dbt_metrics/target/manifest.json: make it before collection imports it."""
    if not manifest_is_current():
        prepare_manifest()


@pytest.fixture
def lightfast_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point LIGHTFAST_HOME, DAGSTER_HOME and the catalog at a temporary directory; use the test embedder."""
    home = tmp_path / "lightfast"
    monkeypatch.setenv("LIGHTFAST_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("LIGHTFAST_DATABASE_URL", raising=False)
    monkeypatch.delenv("LIGHTFAST_LANCEDB_URI", raising=False)
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", TEST_EMBEDDER)
    monkeypatch.setenv("LIGHTFAST_USER", "tester")
    # Run subprocesses (daemon-launched runs) must import tests.support too.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]))
    (home / "dagster").mkdir(parents=True)
    return load_settings()


@pytest.fixture
def run(lightfast_env: Settings) -> Iterator[Callable[..., Result]]:
    """Invoke the `lightfast` CLI in this process (``run("repo", "list", "--json")``), on a fresh Runtime."""
    from typer.testing import CliRunner

    from lightfast_pipeline.cli.app import app
    from lightfast_pipeline.cli.common import get_runtime

    get_runtime.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield invoke
    get_runtime.cache_clear()

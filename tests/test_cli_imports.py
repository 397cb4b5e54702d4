"""The CLI answers at once: what `lightfast` imports, checked in fresh interpreters (issue 10, item 8).

Importing the command tree imports no service; search, repo and workspace commands never import Dagster, and
`lightfast search` with the warm embedding service never imports torch. Timings: `benchmarks/cli.py`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightfast_pipeline.settings import Settings
from tests.conftest import PROJECT_ROOT
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo

CLI_DIR = PROJECT_ROOT / "lightfast_pipeline" / "cli"
STAND_IN = "tests.support.embedders:MiniLMStandIn"
HEAVY = ("dagster", "sqlalchemy", "alembic", "lancedb", "pyarrow", "duckdb", "dbt", "torch", "numpy", "pydantic")
QUERY_METHODS = {"execute", "scalar", "scalars", "get", "query", "add", "flush", "delete", "merge"}
DUMP_MODULES = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.__stderr__.write('MODULES ' + json.dumps(sorted(sys.modules)) + '\\n'))\n"
)


def imported_by(code: str, exit_code: int = 0) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Top-level packages in ``sys.modules`` when ``code`` exits (with ``exit_code``) in a fresh interpreter,
    and its output."""
    completed = subprocess.run(
        [sys.executable, "-c", DUMP_MODULES + code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )
    dumps = [line for line in completed.stderr.splitlines() if line.startswith("MODULES ")]
    assert completed.returncode == exit_code and dumps, completed.stderr
    return {name.split(".")[0] for name in json.loads(dumps[0].removeprefix("MODULES "))}, completed


def lightfast(*args: str, exit_code: int = 0) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run the real `lightfast ARGS` (the console script's code) in a fresh interpreter."""
    return imported_by(
        f"import sys\nsys.argv = ['lightfast', *{list(args)!r}]\nfrom lightfast_pipeline.cli.app import main\nmain()",
        exit_code,
    )


def test_importing_the_command_tree_imports_no_service() -> None:
    modules, _ = imported_by("import lightfast_pipeline.cli.app")
    assert not modules & set(HEAVY)


def test_help_lists_every_command_without_importing_a_service() -> None:
    modules, completed = lightfast("--help")
    for command in ("workspace", "repo", "store", "ingest", "search", "jobs", "stats", "activity", "webhooks", "dev"):
        assert command in completed.stdout
    assert not modules & {"dagster", "sqlalchemy", "lancedb", "torch", "duckdb"}


@pytest.mark.parametrize("args", [("repo", "list", "--json"), ("workspace", "list", "--json")])
def test_catalog_commands_do_not_import_dagster(lightfast_env: Settings, args: tuple[str, ...]) -> None:
    first, _ = lightfast(*args)
    assert "alembic" in first  # a new catalog is migrated
    modules, completed = lightfast(*args)
    assert json.loads(completed.stdout)
    assert not modules & {"dagster", "lancedb", "alembic", "yaml"}  # a current catalog is only checked


@pytest.fixture
def warm_service(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen]:
    """An embedding service answering for the local model (hashing vectors under MiniLM's name)."""
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", STAND_IN)
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "embedder", "serve"]
    service = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from tests.test_embedding_service import wait_for_socket

        wait_for_socket(lightfast_env.embedder_socket, service)
        yield service
    finally:
        service.terminate()
        service.wait(timeout=30)


def _without_latency(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "latency_ms"}


def test_search_with_the_warm_service_imports_neither_dagster_nor_lancedb_nor_torch(
    run, lightfast_env: Settings, warm_service: subprocess.Popen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI sends the whole search to the service, which runs the same search(): the same JSON as in
    process, from a process that imports no Dagster, LanceDB, SQLAlchemy or torch."""
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.search.hits import search_payload
    from lightfast_pipeline.search.query import search
    from tests.support.embedders import MiniLMStandIn

    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("oncall.md", "# On-call\n\n## Paging\n\nThe pager rotates weekly between backend engineers.\n")
    repo.write("laptops.md", "# Laptops\n\nNew engineers get a laptop on their first day.\n")
    repo.commit("handbook")
    assert run("repo", "connect", str(repo.path)).exit_code == 0
    assert run("ingest", "handbook").exit_code == 0  # vectors under MiniLM's name, embedded by the service
    in_process = search_payload(search(Runtime(lightfast_env, embedder=MiniLMStandIn()), "who is paged weekly", None))

    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "local")  # the search process has the real local embedder
    modules, completed = lightfast("search", "who is paged weekly", "--json")
    served = json.loads(completed.stdout)
    assert served["results"][0]["path"] == "oncall.md"
    assert _without_latency(served) == _without_latency(in_process)
    assert set(served["latency_ms"]) == set(in_process["latency_ms"])
    assert not modules & {"torch", "sentence_transformers", "dagster", "lancedb", "pyarrow", "sqlalchemy"}

    refused, completed = lightfast("search", "who is paged weekly", "--workspace", "nowhere", exit_code=1)
    assert "nowhere" in completed.stderr and "lancedb" not in refused  # the service's one-line error

    warm_service.terminate()
    warm_service.wait(timeout=30)
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", STAND_IN)  # no service: the same search in this process
    modules, completed = lightfast("search", "who is paged weekly", "--json")
    assert "lancedb" in modules
    assert _without_latency(json.loads(completed.stdout)) == _without_latency(in_process)


def test_cli_modules_hold_no_orm_queries() -> None:
    """The CLI calls services and formats: no SQLAlchemy import, no query on a session."""
    for path in sorted(CLI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(name.split(".")[0] == "sqlalchemy" for name in names), f"{path.name} imports SQLAlchemy"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                if isinstance(receiver, ast.Name) and receiver.id == "session":
                    assert node.func.attr not in QUERY_METHODS, f"{path.name}:{node.lineno} queries the catalog"


def test_jobs_page_size_default_matches_the_jobs_api() -> None:
    from lightfast_pipeline.cli.jobs import DEFAULT_LIMIT
    from lightfast_pipeline.runs.jobs import DEFAULT_LIMIT as API_DEFAULT

    assert DEFAULT_LIMIT == API_DEFAULT

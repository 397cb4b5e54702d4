"""Issue 14 item 7, the surface no other test asserted: `workspace list`, `repo list` and `repo detect-config`
(JSON and table), the config statuses where they happen (``pending`` on connect, ``unconfigured`` and
``configured`` on detection, ``ingesting`` during a run), the metric points runs and searches record, and the
ingest progress bar as a terminal shows it."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from lightfast_pipeline.catalog.models import MetricPoint, Repository, Workspace
from lightfast_pipeline.ingestion import progress
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository
from tests.conftest import PROJECT_ROOT
from tests.support.github_fixtures import GitHubApp
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import ingest

Run = Callable[..., Result]
REPOSITORY_KEYS = {
    "id", "uid", "name", "workspace", "source_type", "source_id", "location", "default_branch", "config_status",
    "config_path", "config_error", "config_detected_at", "document_count", "chunk_count", "last_ingested_commit",
    "last_ingested_at", "last_synced_at", "active", "archived", "suspended",
}  # fmt: skip


def _json(result: Result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _status(runtime: Runtime, repository_id: int) -> str:
    with runtime.session() as session:
        return session.get(Repository, repository_id).config_status


def _points(runtime: Runtime, kind: str) -> list[MetricPoint]:
    with runtime.session() as session:
        points = session.scalars(select(MetricPoint).where(MetricPoint.type == kind).order_by(MetricPoint.id)).all()
        session.expunge_all()
    return list(points)


def test_workspace_list_json_and_table(run: Run) -> None:
    created = _json(run("workspace", "create", "Docs Team", "--json"))
    listed = _json(run("workspace", "list", "--json"))["workspaces"]
    assert [set(row) for row in listed] == [
        {"id", "name", "slug", "key", "organization", "default", "created_at"}
    ] * len(listed)
    by_slug = {row["slug"]: row for row in listed}
    assert by_slug["docs-team"] == created
    assert (by_slug["docs-team"]["organization"], by_slug["docs-team"]["default"]) == ("default", False)
    assert [row["default"] for row in listed].count(True) == 1

    table = run("workspace", "list").output
    header, *lines = [line for line in table.splitlines() if re.search(r"\w", line)]
    assert re.findall(r"\w+", header) == ["id", "organisation", "name", "slug", "default"]
    assert any(re.search(rf"\b{created['id']}\b.*default.*Docs Team.*docs-team", line) for line in lines), table


def test_repo_statuses_list_and_detect_config(
    run: Run, lightfast_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(lightfast_env)
    repo = GitRepo(tmp_path / "handbook")
    repo.write("docs/guide.md", "# Guide\n\nThe walrus handbook.\n")
    repo.write("docs/care.md", "# Care\n\nFeeding the walrus.\n")
    repo.commit("no config yet")
    row = connect_repository(
        runtime, workspace_name=None, source=LocalGitSource(repo.path), source_type="local",
        location=str(repo.path), actor="tester",
    )  # fmt: skip
    assert _status(runtime, row.id) == "pending"  # connected, lightfast.yml not looked for yet

    detected = _json(run("repo", "detect-config", str(row.id), "--json"))
    assert detected == {"status": "unconfigured", "path": None, "error": None}
    assert run("repo", "detect-config", "handbook").output.strip() == "unconfigured"
    repo.write("lightfast.yml", "version: 1\nstore: docs\ninclude: ['**/*.md']\nbogus: 1\n")
    repo.commit("broken config")
    broken = _json(run("repo", "detect-config", "handbook", "--json"))
    assert (broken["status"], broken["path"]) == ("error", "lightfast.yml") and "bogus" in broken["error"]
    assert run("repo", "detect-config", "handbook").output.strip() == f"error: lightfast.yml — {broken['error']}"
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.commit("config")
    assert _json(run("repo", "detect-config", "handbook", "--json")) == {
        "status": "configured",
        "path": "lightfast.yml",
        "error": None,
    }
    unknown = run("repo", "detect-config", "nope")
    assert unknown.exit_code == 1 and "nope" in unknown.output

    seen: list[str] = []

    def after_batch(done: progress.BatchDone) -> None:  # called by the run, in this process, after each commit
        seen.append(_status(runtime, row.id))

    monkeypatch.setenv("LIGHTFAST_INGEST_BATCH", "1")  # one document per batch: commits before the final one
    progress.add_listener(after_batch)
    try:
        outcome = ingest(runtime, row.id)
    finally:
        progress.remove_listener(after_batch)
    assert outcome.status == "completed", outcome.error
    assert len(seen) >= 2 and set(seen[:-1]) == {"ingesting"}  # until the final batch commits
    assert _status(runtime, row.id) == "configured"

    listed = _json(run("repo", "list", "--json"))["repositories"]
    assert [set(item) for item in listed] == [REPOSITORY_KEYS]
    (item,) = listed
    assert (item["id"], item["name"], item["workspace"], item["source_type"]) == (
        row.id,
        "handbook",
        "default",
        "local",
    )
    assert (item["config_status"], item["document_count"], item["last_ingested_commit"]) == (
        "configured",
        2,
        repo.head(),
    )
    table = run("repo", "list").output
    assert re.findall(r"\w+", table.splitlines()[1])[:3] == ["id", "name", "workspace"]
    assert re.search(rf"\b{row.id}\b.*handbook.*default.*local.*configured.*\b2\b.*{repo.head()[:12]}", table), table

    run("repo", "disconnect", "handbook")
    assert _json(run("repo", "list", "--json")) == {"repositories": []}
    assert [item["active"] for item in _json(run("repo", "list", "--all", "--json"))["repositories"]] == [False]


def test_runs_and_searches_record_their_metric_points(run: Run, lightfast_env: Settings, tmp_path: Path) -> None:
    runtime = Runtime(lightfast_env)
    repo = GitRepo(tmp_path / "metrics")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    for name in ("a", "b", "c"):
        repo.write(f"{name}.md", f"# {name}\n\nPage {name} about walruses.\n")
    repo.commit("three pages")
    connected = _json(run("repo", "connect", str(repo.path), "--json"))
    first = _json(run("ingest", "metrics", "--json"))
    repo.write("a.md", "# a\n\nChanged.\n")
    repo.commit("one page changed")
    second = _json(run("ingest", "metrics", "--json"))

    indexed = _points(runtime, "documents_indexed")
    assert [(p.value, p.unit, p.repository_id, p.tags["run_id"]) for p in indexed] == [
        (3.0, "count", connected["id"], first["run_id"]),
        (1.0, "count", connected["id"], second["run_id"]),
    ]
    assert _points(runtime, "api_calls") == []  # a local repository calls no API
    assert _points(runtime, "query_latency") == _points(runtime, "queries_count") == []

    for _ in range(2):
        _json(run("search", "walruses", "--json"))
    with runtime.session() as session:
        default_workspace = session.scalar(select(Workspace.id).where(Workspace.is_default))
    latency, counts = _points(runtime, "query_latency"), _points(runtime, "queries_count")
    assert [(p.unit, p.workspace_id) for p in latency] == [("ms", default_workspace)] * 2
    assert all(p.value > 0 for p in latency)
    assert [(p.value, p.unit, p.workspace_id) for p in counts] == [(1.0, "count", default_workspace)] * 2


def test_a_github_run_records_its_api_calls(run: Run, lightfast_env: Settings, github_app: GitHubApp, tmp_path: Path):
    git = GitRepo(tmp_path / "site")
    git.write("lightfast.yml", DEFAULT_CONFIG)
    git.write("docs/page.md", "# Page\n\nOn GitHub.\n")
    git.commit("site")
    github_app.server.add_repository("acme/site", git.path, repo_id=9100, installation_id=5)
    _json(run("repo", "connect", "acme/site", "--json"))
    before = len(github_app.server.requests)
    summary = _json(run("ingest", "acme/site", "--json"))
    assert summary["status"] == "completed"
    (point,) = _points(Runtime(lightfast_env), "api_calls")
    assert (point.unit, point.tags) == ("count", {"run_id": summary["run_id"], "provider": "github"})
    made = [r for r in github_app.server.requests[before:] if "/access_tokens" not in str(r)]
    assert 0 < point.value <= len(made)


def _pty_output(command: list[str], env: dict[str, str], timeout: float = 240) -> str:
    """What ``command`` writes to a terminal (a pseudo-terminal 120 columns wide)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command, stdin=follower, stdout=follower, stderr=follower, env=env | {"COLUMNS": "120"}, cwd=PROJECT_ROOT
    )
    os.close(follower)
    output, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process exited
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(30) == 0, output.decode(errors="replace")[-2000:]
    return output.decode(errors="replace")


def test_ingest_draws_a_progress_bar_on_a_terminal(run: Run, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "bar")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    for number in range(12):
        repo.write(f"page{number}.md", f"# Page {number}\n\nParagraph {number} of the handbook.\n")
    repo.commit("twelve pages")
    _json(run("repo", "connect", str(repo.path), "--json"))

    text = _pty_output([sys.executable, "-m", "lightfast_pipeline.cli", "ingest", "bar"], dict(os.environ))
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # colours and cursor movements
    assert re.search(r"ingesting bar: batch 1/1 committed\s+━+\s+12/12", plain), plain  # the bar, full, N of M
    assert re.search(r"\x1b\[2K", text)  # transient: the bar is erased when the run ends
    assert "documents: 12 added, 0 modified, 0 deleted, 0 unchanged, 0 skipped" in plain
    assert "chunks: 12 embedded, 0 reused, 0 deleted" in plain

"""Ingestion through the real CLI in separate processes: concurrent writers, and a run killed half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy import func, select

from lightfast_pipeline.catalog.models import IngestJournal, Repository
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from tests.conftest import FIXTURES
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, document_paths

CLI = [sys.executable, "-m", "lightfast_pipeline.cli"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=600)


def docs_repo(path: Path, folder: str) -> GitRepo:
    repo = GitRepo(path)
    repo.copy_tree(FIXTURES / "corpus-small" / "docs" / folder, f"docs/{folder}")
    repo.write("lightfast.yml", 'version: 1\nstore: docs\ninclude:\n  - "docs/**/*.md"\n')
    repo.commit("docs")
    return repo


@pytest.mark.shared_fixtures
def test_two_repositories_of_one_workspace_ingest_at_once(lightfast_env: Settings, tmp_path: Path) -> None:
    first = docs_repo(tmp_path / "development", "development")
    second = docs_repo(tmp_path / "tutorial", "tutorial")
    assert cli("workspace", "create", "Team").returncode == 0
    for repo in (first, second):
        connected = cli("repo", "connect", str(repo.path), "--workspace", "team")
        assert connected.returncode == 0, connected.stderr
    processes = [
        subprocess.Popen([*CLI, "ingest", str(repo.path), "--json"], stdout=subprocess.PIPE, text=True)
        for repo in (first, second)
    ]
    summaries = [json.loads(process.communicate(timeout=600)[0]) for process in processes]
    assert [summary["status"] for summary in summaries] == ["completed", "completed"]
    runtime = Runtime(lightfast_env)
    with runtime.session() as session:
        repositories = list(session.scalars(select(Repository).order_by(Repository.id)))
    expected = {repositories[0].id: "docs/development", repositories[1].id: "docs/tutorial"}
    for repository_id, folder in expected.items():
        paths = document_paths(runtime, repository_id)
        assert paths and all(path.startswith(folder) for path in paths)
        assert_store_equals_ledger(runtime, repository_id)
    hits = json.loads(cli("search", "dark mode theme", "--workspace", "team", "--json").stdout)["results"]
    assert hits[0]["path"] == "docs/tutorial/dark-mode.md"


@pytest.mark.shared_fixtures
def test_run_killed_half_way_is_repaired_by_the_next_run(lightfast_env: Settings, tmp_path: Path) -> None:
    repo = docs_repo(tmp_path / "docs", "development")
    assert cli("repo", "connect", str(repo.path)).returncode == 0
    runtime = Runtime(lightfast_env)
    with runtime.session() as session:
        repository_id = session.scalar(select(Repository.id))
    victim = subprocess.Popen([*CLI, "ingest", str(repo.path), "--json"], stdout=subprocess.DEVNULL)
    # Kill it inside the commit window: after it journaled the ids it is about to write, before it finished.
    deadline = time.monotonic() + 300
    journaled = False
    while time.monotonic() < deadline and victim.poll() is None:
        with runtime.session() as session:
            journaled = bool(session.scalar(select(func.count()).select_from(IngestJournal)))
        if journaled:
            victim.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    victim.wait(timeout=60)
    assert journaled, "the run finished before the test could kill it inside its commit window"
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestJournal)) == 1

    rerun = cli("ingest", str(repo.path), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["status"] == "completed"
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestJournal)) == 0
    assert len(document_paths(runtime, repository_id)) == len(list((repo.path / "docs").rglob("*.md")))
    assert_store_equals_ledger(runtime, repository_id)
    # The killed run does not stay "started" forever: the run that took over marked it failed.
    instance = DagsterInstance.get()
    statuses = sorted(run.status.value for run in instance.get_runs())
    assert statuses == sorted([DagsterRunStatus.FAILURE.value, DagsterRunStatus.SUCCESS.value])


def test_a_killed_run_lists_as_failed_not_running(lightfast_env: Settings, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "many")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    for n in range(3000):  # enough work that the run is still going when it is killed
        repo.write(f"docs/{n % 30}/page-{n}.md", f"# Page {n}\n\nSomething to say about item {n}.\n")
    repo.commit("many pages")
    assert cli("repo", "connect", str(repo.path)).returncode == 0
    victim = subprocess.Popen([*CLI, "ingest", str(repo.path), "--json"], stdout=subprocess.DEVNULL)
    instance = DagsterInstance.get()
    deadline = time.monotonic() + 300
    started = []
    while time.monotonic() < deadline and victim.poll() is None and not started:
        started = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        time.sleep(0.05)
    assert started, "the run finished before the test could kill it"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert instance.get_run_by_id(started[0].dagster_run.run_id).status == DagsterRunStatus.STARTED

    listed = cli("jobs", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    (job,) = json.loads(listed.stdout)["jobs"]
    assert job["status"] == "failed"
    detail = json.loads(cli("jobs", "get", job["id"], "--json").stdout)
    assert "died" in (detail["error"] or "")

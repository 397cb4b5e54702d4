"""Ingestion through the real CLI in separate processes: concurrent writers, and runs killed with SIGKILL at
each fault point (``LIGHTFAST_FAULT``, ``ingestion/faults.py``) — deterministic, no polling for a window."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from sqlalchemy import func, select

from lightfast_pipeline.catalog.models import IngestJournal, Repository
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.query import search
from lightfast_pipeline.settings import Settings
from tests.conftest import FIXTURES
from tests.support.embedders import EMBED_LOG_ENV, embedded_texts_logged
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, document_paths, ingest

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


WORDS = ("aardvark", "bassoon", "cobalt", "dulcimer", "eucalyptus", "fjord", "gazebo", "harpsichord", "ibex")


def page(word: str, revision: int = 0) -> str:
    return f"# The {word} page\n\nEverything about the {word}, revision {revision}.\n"


def fault_env(fault: str, batch_documents: int) -> dict[str, str]:
    return {**os.environ, "LIGHTFAST_FAULT": fault, "LIGHTFAST_INGEST_BATCH": str(batch_documents)}


def assert_every_file_found(runtime: Runtime, repo: GitRepo, words: list[str]) -> None:
    """Search returns each page for its own word, and no page of a word that is gone."""
    for word in words:
        hits = search(runtime, word, None, top_k=1, record=False).results
        assert [hit.path for hit in hits] == [f"pages/{word}.md"], word


FAULTS = ["after:read", "after:chunk", "after:embed", "before:upsert", "after:upsert", "after:commit", "after:delete"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_run_killed_at_each_fault_point_is_completed_by_the_next_run(
    lightfast_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    repo = GitRepo(tmp_path / "pages")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    for word in WORDS[:5]:
        repo.write(f"pages/{word}.md", page(word))
    first = repo.commit("five pages")
    assert cli("repo", "connect", str(repo.path)).returncode == 0
    runtime = Runtime(lightfast_env)
    with runtime.session() as session:
        repository_id = session.scalar(select(Repository.id))
    monkeypatch.setenv("LIGHTFAST_INGEST_BATCH", "2")
    assert ingest(runtime, repository_id).status == "completed"
    # The next head deletes, renames, modifies and adds: 1 deleted + 1 renamed + 4 to read (2 batches of 2).
    repo.remove(f"pages/{WORDS[0]}.md")
    repo.write(f"pages/{WORDS[5]}.md", page(WORDS[1]))
    repo.remove(f"pages/{WORDS[1]}.md")  # renamed: same content under a new name
    repo.write(f"pages/{WORDS[2]}.md", page(WORDS[2], revision=1))
    for word in WORDS[6:]:
        repo.write(f"pages/{word}.md", page(word))
    repo.commit("delete, rename, modify, add")

    killed = subprocess.run(
        [*CLI, "ingest", str(repo.path), "--json"], capture_output=True, env=fault_env(fault, 2), timeout=600
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with runtime.session() as session:
        # The killed run committed at most its first batch: the head does not look ingested.
        assert session.get(Repository, repository_id).last_ingested_commit == first
        journals = session.scalar(select(func.count()).select_from(IngestJournal))
    assert journals == (0 if fault in ("after:read", "after:chunk", "after:embed") else 1)
    if fault in ("after:commit", "after:delete"):  # the first batch committed: deletes ride in it
        assert f"pages/{WORDS[0]}.md" not in document_paths(runtime, repository_id)
        assert all(hit.path != f"pages/{WORDS[0]}.md" for hit in search(runtime, WORDS[0], None, record=False).results)

    rerun = ingest(runtime, repository_id)

    assert rerun.status == "completed", rerun.error
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestJournal)) == 0
        assert session.get(Repository, repository_id).last_ingested_commit == repo.head()
    expected = [WORDS[2], WORDS[3], WORDS[4], *WORDS[6:]]
    assert sorted(document_paths(runtime, repository_id)) == sorted(
        [f"pages/{word}.md" for word in expected] + [f"pages/{WORDS[5]}.md"]
    )
    assert_store_equals_ledger(runtime, repository_id)
    assert_every_file_found(runtime, repo, expected)
    hits = search(runtime, WORDS[1], None, top_k=1, record=False).results
    assert [hit.path for hit in hits] == [f"pages/{WORDS[5]}.md"]  # the renamed page, under its new name
    # The killed run does not stay "started" forever: the run that took over marked it failed.
    statuses = sorted(run.status.value for run in DagsterInstance.get().get_runs())
    assert statuses == sorted([DagsterRunStatus.FAILURE.value] + [DagsterRunStatus.SUCCESS.value] * 2)


def test_a_run_killed_at_batch_k_resumes_from_the_committed_batches(
    lightfast_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,200 files in batches of 200, killed before the 4th commit: the rerun embeds only the other 600."""
    repo = GitRepo(tmp_path / "many")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    for n in range(1200):
        repo.write(f"docs/{n % 12}/page-{n:04d}.md", f"# Page {n}\n\nNote number {n} about item {n * 7}.\n")
    repo.commit("1,200 pages")
    assert cli("repo", "connect", str(repo.path)).returncode == 0
    runtime = Runtime(lightfast_env)
    with runtime.session() as session:
        repository_id = session.scalar(select(Repository.id))
    log = tmp_path / "embedded.log"

    killed = subprocess.run(
        [*CLI, "ingest", str(repo.path), "--json"],
        capture_output=True,
        env={**fault_env("before:commit:batch=4", 200), EMBED_LOG_ENV: str(log)},
        timeout=600,
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert embedded_texts_logged(log) == 800  # four batches embedded, the fourth never committed
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert (repository.document_count, repository.last_ingested_commit) == (600, None)
    monkeypatch.setenv("LIGHTFAST_INGEST_BATCH", "200")
    monkeypatch.setenv(EMBED_LOG_ENV, str(log))
    log.unlink()

    rerun = ingest(runtime, repository_id)

    assert rerun.status == "completed", rerun.error
    assert rerun.documents["unchanged"] == 600 and rerun.documents["added"] == 600
    assert rerun.chunks["embedded"] == 600 and embedded_texts_logged(log) == 600
    assert rerun.batches == 3
    assert assert_store_equals_ledger(runtime, repository_id) == 1200
    # Each committed batch was observed on `embeddings` as it went: 3 by the killed run, 3 by the rerun.
    observed = DagsterInstance.get().fetch_observations(AssetKey("embeddings"), limit=10, ascending=True).records
    progress = [{key: value.value for key, value in record.asset_observation.metadata.items()} for record in observed]
    assert [(p["batches_committed"], p["batches"], p["documents_committed"]) for p in progress] == [
        (1, 6, 200),
        (2, 6, 400),
        (3, 6, 600),
        (1, 3, 200),
        (2, 3, 400),
        (3, 3, 600),
    ]
    with runtime.session() as session:
        assert session.get(Repository, repository_id).last_ingested_commit == repo.head()


def test_a_killed_run_lists_as_failed_not_running(lightfast_env: Settings, tmp_path: Path) -> None:
    repo = docs_repo(tmp_path / "docs", "development")
    assert cli("repo", "connect", str(repo.path)).returncode == 0
    killed = subprocess.run(
        [*CLI, "ingest", str(repo.path), "--json"], capture_output=True, env=fault_env("after:read", 50), timeout=600
    )
    assert killed.returncode == -signal.SIGKILL
    instance = DagsterInstance.get()
    [started] = instance.get_runs()
    assert started.status == DagsterRunStatus.STARTED

    # The activity timeline (console, API) reads the page's started runs and fails the dead one first.
    timeline = cli("activity", "--json")
    assert timeline.returncode == 0, timeline.stderr
    [entry] = [entry for entry in json.loads(timeline.stdout)["activity"] if entry["run_id"] == started.run_id]
    assert entry["status"] == "failure"
    assert instance.get_run_by_id(started.run_id).status == DagsterRunStatus.FAILURE

    listed = cli("jobs", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    (job,) = json.loads(listed.stdout)["jobs"]
    assert job["status"] == "failed"
    detail = json.loads(cli("jobs", "get", job["id"], "--json").stdout)
    assert "died" in (detail["error"] or "")

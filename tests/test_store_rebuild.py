"""`lightfast store rebuild` after a model change: the store switches model, nothing stale survives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, Repository, Store
from lightfast_pipeline.cli.app import app
from lightfast_pipeline.cli.common import get_runtime
from lightfast_pipeline.ingestion.lease import LeaseTimeout, acquire_lease, maintenance_holder, release_lease
from lightfast_pipeline.settings import Settings
from tests.support.activity_data import tiny_job
from tests.support.fake_pinecone import FakePinecone
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, ingest
from tests.support.provider_fixtures import FAKE_PINECONE_KEY
from tests.support.resources import HashingEmbedderResource

NEW_EMBEDDER = "tests.support.embedders:Hashing256Embedder"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("onboarding.md", "# Onboarding\n\nNew joiners get a laptop and a mentor on day one.\n")
    repo.write("oncall.md", "# On-call\n\n## Paging\n\nThe pager rotates weekly between backend engineers.\n")
    repo.write("guides/deploy.md", "# Deploy\n\nDeploys go out on Tuesdays after the release review.\n")
    repo.commit("handbook")
    return repo


def _connect_and_ingest(run, repo: GitRepo) -> int:
    connected = run("repo", "connect", str(repo.path), "--json")
    assert connected.exit_code == 0, connected.output
    ingested = run("ingest", "handbook", "--json")
    assert ingested.exit_code == 0, ingested.output
    return json.loads(connected.stdout)["id"]


def _store_state(runtime) -> tuple[tuple[str, int], dict[str, list[float]]]:
    with runtime.session() as session:
        store = session.scalar(select(Store))
        settings, namespace = (store.embedding_model, store.embedding_dimension), store.namespace
    ids = list(runtime.vector_store.list_ids(namespace))
    return settings, runtime.vector_store.fetch(namespace, ids)


def test_rebuild_after_model_change(run, repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repository_id = _connect_and_ingest(run, repo)
    runtime = get_runtime()
    assert assert_store_equals_ledger(runtime, repository_id) == 3
    listed = json.loads(run("store", "list", "--json").stdout)["stores"]
    assert [(s["slug"], s["model"], s["dimension"], s["documents"], s["vectors"]) for s in listed] == [
        ("docs", "hashing-384", 384, 3, 3)
    ]

    monkeypatch.setenv("LIGHTFAST_EMBEDDER", NEW_EMBEDDER)
    get_runtime.cache_clear()
    runtime = get_runtime()
    refused = ingest(runtime, repository_id, embedder=HashingEmbedderResource(dimension=256))
    assert refused.status == "failed"
    assert "holds hashing-384 vectors" in refused.error and "lightfast store rebuild docs" in refused.error

    rebuilt = run("store", "rebuild", "docs", "--workspace", "default", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    summary = json.loads(rebuilt.stdout)
    assert summary["removed"] == {"documents": 3, "vectors": 3}
    assert (summary["before"]["model"], summary["after"]["model"]) == ("hashing-384", "hashing-256")
    [full_run] = summary["runs"]
    assert (full_run["repository"], full_run["status"], full_run["error"]) == ("handbook", "completed", None)
    assert full_run["documents"]["added"] == 3 and full_run["chunks"]["embedded"] == 3

    settings, vectors = _store_state(runtime)
    assert settings == ("hashing-256", 256)
    assert len(vectors) == 3 and {len(vector) for vector in vectors.values()} == {256}
    assert assert_store_equals_ledger(runtime, repository_id) == 3
    with runtime.session() as session:
        events = list(session.scalars(select(ActivityEvent).where(ActivityEvent.action == actions.STORE_REBUILT)))
        assert len(events) == 1
        [event] = events
        assert (event.entity_type, event.actor) == ("store", "tester")
        assert (event.before["model"], event.before["dimension"]) == ("hashing-384", 384)
        assert (event.after["model"], event.after["dimension"]) == ("hashing-256", 256)
        assert session.get(Repository, repository_id).document_count == 3

    found = json.loads(run("search", "who is paged weekly", "--json", "--top-k", "1").stdout)["results"]
    assert [hit["path"] for hit in found] == ["oncall.md"]
    again = json.loads(run("ingest", "handbook", "--json").stdout)
    assert again["status"] == "completed" and again["chunks"]["embedded"] == 0
    assert again["documents"]["unchanged"] == 3


def test_a_rebuild_killed_between_its_drop_and_its_commit_is_completed_by_the_next(
    run, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository_id = _connect_and_ingest(run, repo)
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", NEW_EMBEDDER)
    get_runtime.cache_clear()
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "store", "rebuild", "docs", "--workspace", "default"]

    killed = subprocess.run(
        command, capture_output=True, env={**os.environ, "LIGHTFAST_FAULT": "after:rebuild-drop"}, timeout=600
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    runtime = get_runtime()
    settings, vectors = _store_state(runtime)
    assert settings == ("hashing-384", 384) and vectors == {}  # namespace dropped, catalog not yet switched
    rebuilt = run("store", "rebuild", "docs", "--workspace", "default", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    [full_run] = json.loads(rebuilt.stdout)["runs"]
    assert full_run["status"] == "completed" and full_run["documents"]["added"] == 3
    assert _store_state(runtime)[0] == ("hashing-256", 256)
    assert assert_store_equals_ledger(runtime, repository_id) == 3
    for query, path in [("who is paged weekly", "oncall.md"), ("laptop and a mentor", "onboarding.md")]:
        found = json.loads(run("search", query, "--json", "--top-k", "1").stdout)["results"]
        assert [hit["path"] for hit in found] == [path]
    found = json.loads(run("search", "deploys on Tuesdays", "--json", "--top-k", "1").stdout)["results"]
    assert [hit["path"] for hit in found] == ["guides/deploy.md"]


def test_rebuild_refused_while_a_run_holds_the_lease(run, repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repository_id = _connect_and_ingest(run, repo)
    runtime = get_runtime()
    _settings, vectors_before = _store_state(runtime)
    holder = runtime.instance.create_run_for_job(job_def=tiny_job).run_id  # not finished: alive
    acquire_lease(runtime, repository_id, holder, lambda _run_id: True)
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", NEW_EMBEDDER)
    get_runtime.cache_clear()

    refused = run("store", "rebuild", "docs", "--workspace", "default")
    assert refused.exit_code == 1
    assert refused.stderr.strip().count("\n") == 0
    assert "handbook" in refused.stderr and holder in refused.stderr
    assert _store_state(runtime) == (("hashing-384", 384), vectors_before)
    assert assert_store_equals_ledger(runtime, repository_id) == 3
    with runtime.session() as session:
        assert session.scalars(select(ActivityEvent).where(ActivityEvent.action == actions.STORE_REBUILT)).all() == []
    release_lease(runtime, repository_id, holder)


def test_unknown_store_or_workspace_is_one_line_exit_1(run) -> None:
    unknown = run("store", "rebuild", "nope", "--workspace", "default")
    assert unknown.exit_code == 1 and unknown.stderr.strip().count("\n") == 0
    assert "no store 'nope' in workspace 'default'" in unknown.stderr
    no_workspace = run("store", "list", "--workspace", "missing")
    assert no_workspace.exit_code == 1 and "no workspace 'missing'" in no_workspace.stderr


def test_a_run_never_takes_over_a_live_rebuild_lease(run, repo: GitRepo) -> None:
    repository_id = _connect_and_ingest(run, repo)
    runtime = get_runtime()
    rebuild = maintenance_holder("store-rebuild-1")
    acquire_lease(runtime, repository_id, rebuild, lambda _run_id: False)
    with pytest.raises(LeaseTimeout, match=rebuild):
        acquire_lease(runtime, repository_id, "some-run", lambda _run_id: False, wait_seconds=0)
    release_lease(runtime, repository_id, rebuild)


def test_pinecone_rebuild_to_another_dimension_is_refused_before_anything_is_deleted(
    lightfast_env: Settings, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakePinecone(FAKE_PINECONE_KEY, 384)  # the index of the current model
    try:
        monkeypatch.setenv("LIGHTFAST_VECTOR_BACKEND", "pinecone")
        monkeypatch.setenv("PINECONE_API_KEY", FAKE_PINECONE_KEY)
        monkeypatch.setenv("PINECONE_INDEX_HOST", server.url)
        get_runtime.cache_clear()
        runner = CliRunner()
        repository_id = _connect_and_ingest(lambda *args: runner.invoke(app, list(args)), repo)
        runtime = get_runtime()
        before = _store_state(runtime)
        monkeypatch.setenv("LIGHTFAST_EMBEDDER", NEW_EMBEDDER)
        get_runtime.cache_clear()

        refused = runner.invoke(app, ["store", "rebuild", "docs", "--workspace", "default"])
        assert refused.exit_code == 1 and refused.stderr.strip().count("\n") == 0
        assert "holds 384-dimensional vectors" in refused.stderr and "256" in refused.stderr
        assert _store_state(runtime) == before
        assert assert_store_equals_ledger(runtime, repository_id) == 3
    finally:
        get_runtime.cache_clear()
        server.close()

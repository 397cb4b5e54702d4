"""A disconnect during a running ingestion leaves nothing behind: it takes the repository's lease.

The run is held at a deterministic point (its embedder's gate: after the plan, before any write) while the
disconnect starts; the disconnect waits for the run's commit, then removes everything, including what the
run wrote. A run that was waiting for the lease behind a disconnect finds the repository gone and writes
nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lightfast_pipeline.catalog.keywords import keyword_ids
from lightfast_pipeline.catalog.models import Chunk, Document, IngestJournal, Repository, Store
from lightfast_pipeline.ingestion.lease import acquire_lease, maintenance_holder, release_lease
from lightfast_pipeline.ingestion.lifecycle import RepositoryUnavailable, begin_ingestion
from lightfast_pipeline.ingestion.verify import store_ids
from lightfast_pipeline.resources.embedder import EmbedderResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings, load_settings
from lightfast_pipeline.workspaces.repositories import disconnect_repository
from tests.support.embedders import GatedEmbedder
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import Outcome, connect_local
from tests.support.ingest import ingest as ingest_with

GATED = "tests.support.embedders:GatedEmbedder"


def ingest(runtime: Runtime, repository_id: int) -> Outcome:
    """The real job, embedding through the gate."""
    return ingest_with(runtime, repository_id, embedder=EmbedderResource(provider=GATED))


@pytest.fixture
def runtime(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", GATED)
    GatedEmbedder.close()
    GatedEmbedder.opened.set()
    return Runtime(load_settings())


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "docs-repo")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("docs/guide.md", "# Guide\n\nBrowser windows and their title bars.\n")
    repo.commit("initial")
    return repo


@pytest.fixture
def repository_id(runtime: Runtime, repo: GitRepo) -> int:
    repository = connect_local(runtime, repo.path)
    first = ingest(runtime, repository.id)
    assert first.status == "completed", first.error
    return repository.id


def leftovers(runtime: Runtime, repository_id: int) -> dict[str, int]:
    """What the repository still has anywhere: vectors, ledger and keyword rows, documents, journals."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        namespaces = set(session.scalars(select(Store.namespace)))
        counts = {
            "ledger": session.scalar(select(func.count()).where(Chunk.repository_id == repository_id)),
            "documents": session.scalar(select(func.count()).where(Document.repository_id == repository_id)),
            "journals": session.scalar(select(func.count()).where(IngestJournal.repository_id == repository_id)),
            "keywords": len(keyword_ids(session, repository.uid)),
        }
        uid = repository.uid
    counts["vectors"] = sum(len(ids) for ids in store_ids(runtime, uid, namespaces).values())
    return counts


def test_disconnect_during_a_run_leaves_no_vectors_ledger_or_keyword_rows(
    runtime: Runtime, repo: GitRepo, repository_id: int
) -> None:
    repo.write("docs/menus.md", "# Menus\n\nApplication menus and keyboard accelerators.\n")
    repo.commit("add menus")
    GatedEmbedder.close()
    outcome: list[Outcome] = []
    run = threading.Thread(target=lambda: outcome.append(ingest(runtime, repository_id)))
    run.start()
    assert GatedEmbedder.reached.wait(timeout=120), "the run never reached its embedder"

    progressed = threading.Event()  # the disconnect either waits for the run, or (without the lease) is done
    waited_for: list[str] = []

    def on_wait(holder: str) -> None:
        waited_for.append(holder)
        progressed.set()

    def disconnect() -> None:
        try:
            disconnect_repository(runtime, repository_id, actor="tester", on_wait=on_wait)
        finally:
            progressed.set()

    disconnecting = threading.Thread(target=disconnect)
    disconnecting.start()
    assert progressed.wait(timeout=60)
    GatedEmbedder.opened.set()  # the run embeds, writes and commits; only then does the disconnect proceed
    run.join(timeout=120)
    disconnecting.join(timeout=120)

    assert outcome and outcome[0].status == "completed", outcome
    assert leftovers(runtime, repository_id) == {
        "ledger": 0,
        "documents": 0,
        "journals": 0,
        "keywords": 0,
        "vectors": 0,
    }
    assert waited_for == [outcome[0].run_id]
    with runtime.session() as session:
        assert session.get(Repository, repository_id).active is False


def test_a_disconnect_that_stops_waiting_leaves_the_removal_to_the_run(
    runtime: Runtime, repo: GitRepo, repository_id: int
) -> None:
    """The delivery sensor waits only seconds for the lease: the run in flight removes the index as it ends."""
    repo.write("docs/menus.md", "# Menus\n\nApplication menus and keyboard accelerators.\n")
    repo.commit("add menus")
    GatedEmbedder.close()
    outcome: list[Outcome] = []
    run = threading.Thread(target=lambda: outcome.append(ingest(runtime, repository_id)))
    run.start()
    assert GatedEmbedder.reached.wait(timeout=120), "the run never reached its embedder"
    result = disconnect_repository(runtime, repository_id, actor="tester", wait_seconds=0)
    assert (result.documents, result.vectors) == (0, 0)  # nothing removed yet: the run holds the lease
    GatedEmbedder.opened.set()
    run.join(timeout=120)
    assert outcome and outcome[0].status == "completed", outcome
    assert leftovers(runtime, repository_id) == {
        "ledger": 0,
        "documents": 0,
        "journals": 0,
        "keywords": 0,
        "vectors": 0,
    }
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert (repository.active, repository.document_count, repository.last_ingested_commit) == (False, 0, None)


def test_a_run_that_waited_behind_a_disconnect_writes_nothing(runtime: Runtime, repository_id: int) -> None:
    """The run checked the repository before the disconnect took the lease; it checks again once it holds it."""
    with runtime.session() as session:
        uid = session.get(Repository, repository_id).uid
    blocker = maintenance_holder("test")
    acquire_lease(runtime, repository_id, blocker, lambda _run_id: False)
    waits = threading.Event()  # set once the run has checked the repository and waits for the lease
    refused: list[BaseException] = []

    def run() -> None:
        try:
            begin_ingestion(runtime, uid, "run-behind", lambda _run_id: True, on_wait=lambda _holder: waits.set())
        except RepositoryUnavailable as error:
            refused.append(error)

    waiting = threading.Thread(target=run)
    waiting.start()
    assert waits.wait(timeout=30)
    with runtime.session() as session:  # what a disconnect does under the lease, before releasing it
        session.get(Repository, repository_id).active = False
    release_lease(runtime, repository_id, blocker)
    waiting.join(timeout=30)
    assert [str(error) for error in refused] == [f"repository {uid} is not connected"]
    acquire_lease(runtime, repository_id, "next", lambda _run_id: False, wait_seconds=0)  # the lease is free

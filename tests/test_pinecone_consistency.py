"""Ingestion, verify and rebuild against the local Pinecone server in lag mode (writes show in reads late, as on
the serverless service): reads that correctness depends on wait for consistency, and nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey
from sqlalchemy import select

from lightfast_pipeline.catalog.models import Store
from lightfast_pipeline.ingestion.repair import verify_under_lease
from lightfast_pipeline.resources.vector_store import VectorStoreResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings, load_pinecone_settings, load_settings
from lightfast_pipeline.stores.rebuild import rebuild_store
from tests.support.fake_pinecone import FakePinecone
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import Outcome, assert_store_equals_ledger, connect_local, document_paths
from tests.support.ingest import ingest as ingest_with
from tests.support.provider_fixtures import FAKE_PINECONE_KEY

WINDOWS = "# Windows\n\nBrowser window frames and title bars explained.\n"
MENUS = "# Menus\n\nApplication menu templates and keyboard accelerators.\n"


@pytest.fixture
def pinecone(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePinecone]:
    """A 384-dimensional index (the test embedder's) in lag mode, configured as the vector backend."""
    server = FakePinecone(FAKE_PINECONE_KEY, 384)
    server.lag_seconds = 1.0
    monkeypatch.setenv("LIGHTFAST_VECTOR_BACKEND", "pinecone")
    monkeypatch.setenv("PINECONE_API_KEY", FAKE_PINECONE_KEY)
    monkeypatch.setenv("PINECONE_INDEX_HOST", server.url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("docs/windows.md", WINDOWS)
    repo.commit("initial")
    return repo


def connect(runtime: Runtime, repo: GitRepo) -> int:
    return connect_local(runtime, repo.path).id


def ingest(runtime: Runtime, repository_id: int, *, full: bool = False) -> Outcome:
    """The real job with the vector store the environment configures (the local Pinecone server, its window)."""
    pinecone = load_pinecone_settings()
    store = VectorStoreResource(
        backend="pinecone",
        pinecone_api_key=pinecone.api_key,
        pinecone_index_host=pinecone.index_host,
        pinecone_consistency_seconds=pinecone.consistency_seconds,
    )
    return ingest_with(runtime, repository_id, full=full, vector_store=store)


def check_passed(runtime: Runtime) -> tuple[bool, str]:
    """The last ``index_truth`` check of the runs: passed, and its description."""
    key = AssetCheckKey(AssetKey("embeddings"), "index_truth")
    execution = runtime.instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    evaluation = execution.event.dagster_event.event_specific_data
    return evaluation.passed, evaluation.description


def test_the_check_and_verify_right_after_writes_report_no_drift(pinecone: FakePinecone, repo: GitRepo) -> None:
    runtime = Runtime(load_settings())
    repository_id = connect(runtime, repo)
    first = ingest(runtime, repository_id)
    assert first.status == "completed", first.error
    assert check_passed(runtime) == (True, "store, ledger, keyword index and source agree (1 vectors)")

    repo.write("docs/menus.md", MENUS)
    repo.commit("menus")
    second = ingest(runtime, repository_id)
    assert second.status == "completed", second.error
    assert check_passed(runtime)[0], check_passed(runtime)[1]

    with runtime.session() as session:
        namespace = session.scalar(select(Store.namespace))
    lost = next(iter(pinecone.namespaces[namespace]))
    del pinecone.namespaces[namespace][lost]  # the store lost a vector: verify --repair writes it again
    truth, repaired = verify_under_lease(runtime, repository_id, repair=True, actor="tester")
    assert repaired is not None and repaired.embedded == 1
    assert truth.ok, truth.describe()  # read after the repair's upsert, which shows a second later
    assert assert_store_equals_ledger(runtime, repository_id) == 2


def test_a_copy_of_a_vector_the_store_does_not_show_yet_is_embedded_instead(
    pinecone: FakePinecone, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store shows writes later than its declared window: the first run's check gives up, and the next run
    cannot fetch the vector it would copy. It embeds that chunk instead of failing; nothing is lost."""
    pinecone.lag_seconds = 10.0
    monkeypatch.setenv("LIGHTFAST_PINECONE_CONSISTENCY_SECONDS", "0.2")
    runtime = Runtime(load_settings())
    repository_id = connect(runtime, repo)
    first = ingest(runtime, repository_id)
    assert first.status == "completed", first.error
    assert not check_passed(runtime)[0]  # 1 missing: the window passed before the write showed

    repo.write("docs/copy.md", WINDOWS)  # the same chunk: normally a copy of the first run's vector
    repo.commit("copy")
    second = ingest(runtime, repository_id)
    assert second.status == "completed", second.error
    assert second.chunks == {"embedded": 1, "reused": 0, "deleted": 0}

    pinecone.settle()
    assert assert_store_equals_ledger(runtime, repository_id) == 2
    assert set(document_paths(runtime, repository_id)) == {"docs/windows.md", "docs/copy.md"}


def test_a_rebuild_returns_once_the_namespace_reads_empty_and_the_next_run_converges(
    pinecone: FakePinecone, repo: GitRepo
) -> None:
    runtime = Runtime(load_settings())
    repository_id = connect(runtime, repo)
    repo.write("docs/menus.md", MENUS)
    repo.commit("menus")
    assert ingest(runtime, repository_id).status == "completed"

    rebuild = rebuild_store(runtime, "default", "docs", actor="tester")
    assert rebuild.vectors_removed == 2
    with runtime.session() as session:
        namespace = session.scalar(select(Store.namespace))
    assert runtime.vector_store.count(namespace) == 0  # the store equals the emptied ledger, no settle needed

    again = ingest(runtime, repository_id, full=True)
    assert again.status == "completed", again.error
    assert again.chunks["embedded"] == 2
    assert check_passed(runtime)[0], check_passed(runtime)[1]
    assert assert_store_equals_ledger(runtime, repository_id) == 2

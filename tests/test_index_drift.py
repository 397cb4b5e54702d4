"""Planted drift: every ingestion's ``index_truth`` check fails on it, `repo verify` names it, `--repair` fixes it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, DagsterEventType
from sqlalchemy import delete, select, text

from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, Chunk, Document, Repository, Store
from lightfast_pipeline.ingestion.verify import UNINDEXED, index_truth
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.sources.factory import source_for
from lightfast_pipeline.vectorstores.base import VectorRecord
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, connect_local, ingest

NAME = "handbook"


@pytest.fixture
def runtime(lightfast_env: Settings) -> Runtime:
    return Runtime(lightfast_env)


@pytest.fixture
def repository_id(runtime: Runtime, tmp_path: Path) -> int:
    repo = GitRepo(tmp_path / NAME)
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("onboarding.md", "# Onboarding\n\nNew joiners get a laptop and a mentor on day one.\n")
    repo.write("oncall.md", "# On-call\n\n## Paging\n\nThe pager rotates weekly between backend engineers.\n")
    repo.commit("handbook")
    repository = connect_local(runtime, repo.path)
    first = ingest(runtime, repository.id)
    assert first.status == "completed", first.error
    return repository.id


def _ledger(runtime: Runtime, repository_id: int) -> tuple[str, str, list[Chunk]]:
    """(repository uid, namespace, ledger rows) of the repository."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        namespace = session.get(Store, repository.store_id).namespace
        rows = list(session.scalars(select(Chunk).where(Chunk.repository_id == repository_id)))
        session.expunge_all()
        return repository.uid, namespace, rows


def _vector(runtime: Runtime, text: str) -> list[float]:
    return runtime.embedder.embed_documents([text])[0]


def plant_orphan(runtime: Runtime, repository_id: int) -> str:
    """A vector of a document the catalog never had."""
    uid, namespace, _rows = _ledger(runtime, repository_id)
    orphan = f"{uid}:{'f' * 32}:{'0' * 16}"
    runtime.vector_store.upsert(namespace, [VectorRecord(orphan, _vector(runtime, "gone"), {"repository": uid})])
    return orphan


def plant_missing(runtime: Runtime, repository_id: int) -> str:
    """A ledger row whose vector was lost."""
    _uid, namespace, rows = _ledger(runtime, repository_id)
    runtime.vector_store.delete(namespace, [rows[0].vector_id])
    return rows[0].vector_id


def plant_stale(runtime: Runtime, repository_id: int) -> str:
    """The vector of an older content hash of a live document (a delete that never happened)."""
    uid, namespace, rows = _ledger(runtime, repository_id)
    document = rows[0].vector_id.split(":")[1]
    older = f"{uid}:{document}:{hashlib.sha256(b'an older paragraph').hexdigest()[:16]}"
    record = VectorRecord(older, _vector(runtime, "an older paragraph"), {"repository": uid, "document": document})
    runtime.vector_store.upsert(namespace, [record])
    return older


def plant_stale_ledger_row(runtime: Runtime, repository_id: int) -> str:
    """A ledger row (and its vector) of content the source does not have: only re-ingestion rewrites it."""
    older = plant_stale(runtime, repository_id)
    _uid, _namespace, rows = _ledger(runtime, repository_id)
    with runtime.session() as session:
        session.add(
            Chunk(
                vector_id=older,
                document_id=rows[0].document_id,
                store_id=rows[0].store_id,
                repository_id=repository_id,
                chunk_index=99,
                content_hash=hashlib.sha256(b"an older paragraph").hexdigest(),
                text="an older paragraph",
            )
        )
    return older


def _check_of(runtime: Runtime, run_id: str):
    [record] = runtime.instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    return record.event_log_entry.dagster_event.event_specific_data


DRIFTS: dict[str, Callable[[Runtime, int], str]] = {
    "orphaned": plant_orphan,
    "missing": plant_missing,
    "stale": plant_stale,
}


def test_every_run_checks_index_truth_and_passes_on_a_clean_index(runtime: Runtime, repository_id: int) -> None:
    rerun = ingest(runtime, repository_id)
    evaluation = _check_of(runtime, rerun.run_id)
    assert evaluation.check_name == "index_truth" and evaluation.asset_key.to_user_string() == "embeddings"
    assert evaluation.passed, evaluation.description
    assert {key: evaluation.metadata[key].value for key in ("missing", "orphaned", "stale", "store")} == {
        "missing": 0,
        "orphaned": 0,
        "stale": 0,
        "store": 2,
    }


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_planted_drift_fails_the_check_verify_names_it_and_repair_converges(
    runtime: Runtime, repository_id: int, run, kind: str
) -> None:
    planted = DRIFTS[kind](runtime, repository_id)

    rerun = ingest(runtime, repository_id)  # a no-op run writes nothing, so the drift is still there
    assert rerun.status == "completed" and rerun.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    evaluation = _check_of(runtime, rerun.run_id)
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.metadata[kind].value == 1
    assert evaluation.metadata["first_ids"].value[kind] == [planted]
    assert f"1 {kind} (e.g. {planted})" in evaluation.description

    verified = run("repo", "verify", NAME)
    assert verified.exit_code == 1
    assert verified.stderr.strip().count("\n") == 0 and f"1 {kind} (e.g. {planted})" in verified.stderr

    repaired = run("repo", "verify", NAME, "--repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    payload = json.loads(repaired.stdout)
    assert payload["ok"] and set(payload["counts"]) >= {"missing", "orphaned", "stale", "unrecorded"}
    assert set(payload["counts"].values()) == {0}
    assert payload["repaired"] == (
        {"embedded": 1, "deleted": 0} if kind == "missing" else {"embedded": 0, "deleted": 1}
    )
    assert run("repo", "verify", NAME).exit_code == 0
    assert assert_store_equals_ledger(runtime, repository_id) == 2
    with runtime.session() as session:
        [activity] = session.scalars(select(ActivityEvent).where(ActivityEvent.action == actions.INDEX_REPAIRED))
        assert (activity.actor, activity.before[kind], activity.impact) == ("tester", 1, payload["repaired"])
    assert _check_of(runtime, ingest(runtime, repository_id).run_id).passed


def test_a_stale_ledger_row_is_repaired_by_a_full_reingestion(runtime: Runtime, repository_id: int, run) -> None:
    planted = plant_stale_ledger_row(runtime, repository_id)
    verified = run("repo", "verify", NAME)
    assert verified.exit_code == 1 and f"1 stale (e.g. {planted})" in verified.stderr

    repaired = run("repo", "verify", NAME, "--repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(repaired.stdout)["ok"]
    with runtime.session() as session:
        assert session.get(Chunk, planted) is None
        assert session.scalar(select(Document.chunk_count).where(Document.path == "onboarding.md")) == 1
    assert assert_store_equals_ledger(runtime, repository_id) == 2


def test_verify_and_repair_with_another_model_configured_refuse_and_write_nothing(
    runtime: Runtime, repository_id: int, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightfast_pipeline.cli.common import get_runtime

    planted = plant_missing(runtime, repository_id)
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "tests.support.embedders:Hashing256Embedder")
    get_runtime.cache_clear()
    for args in ((), ("--repair",)):
        refused = run("repo", "verify", NAME, *args)
        assert refused.exit_code == 1 and refused.stderr.strip().count("\n") == 0
        assert "holds hashing-384 vectors but the configured embedder is hashing-256" in refused.stderr
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "tests.support.embedders:HashingEmbedder")
    get_runtime.cache_clear()
    still = run("repo", "verify", NAME)
    assert still.exit_code == 1 and f"1 missing (e.g. {planted})" in still.stderr


def test_a_document_the_catalog_lost_and_a_keyword_row_deleted_by_hand_are_named(
    runtime: Runtime, repository_id: int
) -> None:
    """The check's digests name every kind at once: the lost document's vector is orphaned, the file's chunk
    (now of the stand-in ``?path`` uid) is missing and unrecorded, the deleted keyword row is missing."""
    uid, _namespace, rows = _ledger(runtime, repository_id)
    kept, lost = rows
    with runtime.session() as session:
        path = session.get(Document, lost.document_id).path
        session.execute(delete(Chunk).where(Chunk.document_id == lost.document_id))
        session.execute(delete(Document).where(Document.id == lost.document_id))
        session.execute(text("DELETE FROM chunk_keywords WHERE vector_id = :v"), {"v": kept.vector_id})
        source = source_for(session.get(Repository, repository_id), runtime.settings)
    for deep in (False, True):
        truth = index_truth(runtime, repository_id, source, deep=deep)
        (unrecorded,) = truth.unrecorded
        assert unrecorded.startswith(f"{uid}:{UNINDEXED}{path}:") and truth.missing == [unrecorded]
        assert (truth.orphaned, truth.stale, truth.keyword_missing) == ([lost.vector_id], [], [kept.vector_id])
        assert truth.ledger_drift and (truth.store, truth.ledger, truth.expected) == (2, 1, 2)


def test_the_merge_reads_a_document_whose_blob_differs_and_leaves_out_one_the_tree_lacks(
    runtime: Runtime, repository_id: int
) -> None:
    """The tree and the catalog are merged in path order: a document whose blob id differs is chunked from the
    source again (same text: no drift), and the ledger rows of a document at a path the tree lacks are not
    expected (stale), while the file at its old path is unknown to the catalog (missing, unrecorded)."""
    uid, _namespace, rows = _ledger(runtime, repository_id)
    with runtime.session() as session:
        changed, moved = (session.get(Document, row.document_id) for row in rows)
        changed.blob_id = "0" * 40
        old_path, moved.path = moved.path, "zz-elsewhere.md"
        moved_ids = [row.vector_id for row in rows if row.document_id == moved.id]
        source = source_for(session.get(Repository, repository_id), runtime.settings)
    for deep in (False, True):
        truth = index_truth(runtime, repository_id, source, deep=deep)
        (unrecorded,) = truth.unrecorded
        assert unrecorded.startswith(f"{uid}:{UNINDEXED}{old_path}:") and truth.missing == [unrecorded]
        assert (truth.stale, truth.orphaned, truth.keyword_missing) == (moved_ids, [], [])
        assert truth.ledger_drift and (truth.store, truth.ledger, truth.expected) == (2, 2, 2)

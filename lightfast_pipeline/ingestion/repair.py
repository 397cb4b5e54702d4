"""Repair: what a crashed run left (from its journal), and drift that index truth found.

The keyword index needs no journal: triggers write it in the catalog transaction that writes the ledger, so a
crash leaves it equal to whichever ledger survived; index truth still compares it, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.keywords import rewrite_keyword_rows
from lightfast_pipeline.catalog.models import Chunk, Document, IngestJournal, Repository, Store
from lightfast_pipeline.index.truth import IndexTruth
from lightfast_pipeline.ingestion.verify import index_truth, store_ids
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.stores.store import delete_vectors
from lightfast_pipeline.vectorstores.base import VectorRecord

CHECK_BATCH = 500
EMBED_BATCH = 64


def repair_from_journal(runtime: Runtime, repository_id: int) -> int:
    """Delete journaled vector ids the ledger does not own (left by a run that died); returns how many."""
    removed = 0
    with runtime.session() as session:
        journals = list(
            session.execute(
                select(IngestJournal.id, IngestJournal.vector_ids).where(IngestJournal.repository_id == repository_id)
            )
        )
    for journal_id, planned in journals:
        for namespace, vector_ids in planned.items():
            owned: set[str] = set()
            with runtime.session() as session:
                for start in range(0, len(vector_ids), CHECK_BATCH):
                    batch = vector_ids[start : start + CHECK_BATCH]
                    owned.update(session.scalars(select(Chunk.vector_id).where(Chunk.vector_id.in_(batch))))
            orphans = [vector_id for vector_id in vector_ids if vector_id not in owned]
            delete_vectors(runtime.vector_store, namespace, orphans)
            removed += len(orphans)
        with runtime.session() as session:
            session.execute(delete(IngestJournal).where(IngestJournal.id == journal_id))
    return removed


@dataclass(frozen=True)
class Repaired:
    """What a repair changed in the store."""

    embedded: int  # ledger chunks the store lacked, embedded again from the ledger's text
    deleted: int  # orphaned and stale vectors the ledger does not own


def _reembed(runtime: Runtime, repository_uid: str, vector_ids: list[str]) -> int:
    """Embed the ledger's text of these ids and upsert them into their store's namespace."""
    rows: list[tuple[str, str, str, str, int]] = []  # (vector id, text, document uid, namespace, dimension)
    with runtime.session() as session:
        for start in range(0, len(vector_ids), CHECK_BATCH):
            rows.extend(
                session.execute(
                    select(Chunk.vector_id, Chunk.text, Document.uid, Store.namespace, Store.embedding_dimension)
                    .join(Document, Document.id == Chunk.document_id)
                    .join(Store, Store.id == Chunk.store_id)
                    .where(Chunk.vector_id.in_(vector_ids[start : start + CHECK_BATCH]))
                ).all()
            )
    for start in range(0, len(rows), EMBED_BATCH):
        batch = rows[start : start + EMBED_BATCH]
        vectors = runtime.embedder.embed_documents([text for _id, text, _doc, _ns, _dim in batch])
        by_namespace: dict[tuple[str, int], list[VectorRecord]] = {}
        for (vector_id, _text, document_uid, namespace, dimension), vector in zip(batch, vectors, strict=True):
            record = VectorRecord(vector_id, list(vector), {"repository": repository_uid, "document": document_uid})
            by_namespace.setdefault((namespace, dimension), []).append(record)
        for (namespace, dimension), records in by_namespace.items():
            runtime.vector_store.ensure_namespace(namespace, dimension)
            runtime.vector_store.upsert(namespace, records)
    return len(rows)


def repair_index(runtime: Runtime, repository_id: int, truth: IndexTruth, *, actor: str) -> Repaired:
    """Make the store equal the ledger: embed what is missing, delete what is orphaned or stale.

    ``truth`` comes from :func:`index_truth` on the same runtime, which refuses a store of another model, so
    what is embedded here matches the store's vectors.

    Stale ledger rows and unrecorded chunks (``truth.ledger_drift``) are left to a full re-ingestion, which
    rewrites the ledger from the source. Records an ``index.repaired`` activity row.
    """
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        uid = repository.uid
        namespaces = set(session.scalars(select(Store.namespace).where(Store.workspace_id == repository.workspace_id)))
        owned: set[str] = set()
        for start in range(0, len(truth.missing), CHECK_BATCH):
            batch = truth.missing[start : start + CHECK_BATCH]
            owned.update(session.scalars(select(Chunk.vector_id).where(Chunk.vector_id.in_(batch))))
        stale_owned: set[str] = set()
        for start in range(0, len(truth.stale), CHECK_BATCH):
            batch = truth.stale[start : start + CHECK_BATCH]
            stale_owned.update(session.scalars(select(Chunk.vector_id).where(Chunk.vector_id.in_(batch))))
    embedded = _reembed(runtime, uid, sorted(owned))
    if truth.keyword_missing or truth.keyword_orphaned:
        with runtime.session() as session:
            rewrite_keyword_rows(session, truth.keyword_missing, truth.keyword_orphaned)
    unowned = set(truth.orphaned) | (set(truth.stale) - stale_owned)
    deleted = 0
    for namespace, ids in store_ids(runtime, uid, namespaces).items():
        doomed = sorted(ids & unowned)
        delete_vectors(runtime.vector_store, namespace, doomed)
        deleted += len(doomed)
    with runtime.session() as session:
        record_activity(
            session,
            action=actions.INDEX_REPAIRED,
            entity_type="repository",
            entity_id=repository_id,
            actor=actor,
            repository=session.get(Repository, repository_id),
            reason=truth.describe(),
            impact={"embedded": embedded, "deleted": deleted},
            before=truth.counts(),
        )
    return Repaired(embedded=embedded, deleted=deleted)


def verify_under_lease(
    runtime: Runtime, repository_id: int, *, repair: bool, actor: str
) -> tuple[IndexTruth, Repaired | None]:
    """Check (and with ``repair``, converge) the repository while holding its lease, so no run writes meanwhile.

    Raises RepositoryError when a run holds the repository now.
    """
    from lightfast_pipeline.ingestion.lease import (
        LeaseTimeout,
        acquire_lease,
        maintenance_holder,
        release_lease,
        run_alive_on,
    )
    from lightfast_pipeline.sources.factory import source_for
    from lightfast_pipeline.workspaces.repositories import RepositoryError

    holder = maintenance_holder("verify")
    try:
        acquire_lease(runtime, repository_id, holder, run_alive_on(runtime), wait_seconds=0)
    except LeaseTimeout as error:
        raise RepositoryError(f"cannot verify now: {error}") from error
    try:
        repair_from_journal(runtime, repository_id)
        with runtime.session() as session:
            source = source_for(session.get(Repository, repository_id), runtime.settings)
        truth = index_truth(runtime, repository_id, source, deep=True)
        if not repair or truth.ok:
            return truth, None
        repaired = repair_index(runtime, repository_id, truth, actor=actor)
        return index_truth(runtime, repository_id, source, deep=True), repaired
    finally:
        release_lease(runtime, repository_id, holder)

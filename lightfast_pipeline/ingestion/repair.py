"""Crash repair and verification: the store and the keyword index must hold exactly the ledger's vector ids.

The keyword index needs no journal: triggers write it in the catalog transaction that writes the ledger, so a
crash leaves it equal to whichever ledger survived; verification still compares it, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select

from lightfast_pipeline.catalog.keywords import keyword_ids
from lightfast_pipeline.catalog.models import Chunk, IngestJournal, Repository, Store
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.stores.store import delete_vectors

CHECK_BATCH = 500


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
class Verification:
    """Comparison of the ledger with the store and with the keyword index for one repository."""

    ledger: int
    store: int
    missing: list[str]  # in the ledger, not in the store
    orphaned: list[str]  # in the store, not in the ledger
    keyword_missing: list[str] = field(default_factory=list)  # in the ledger, not in the keyword index
    keyword_orphaned: list[str] = field(default_factory=list)  # in the keyword index, not in the ledger

    @property
    def ok(self) -> bool:
        return not (self.missing or self.orphaned or self.keyword_missing or self.keyword_orphaned)


def verify_repository(runtime: Runtime, repository_id: int) -> Verification:
    """Compare the ledger with the vector ids in every store it wrote to and with its keyword rows."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        ledger = set(session.scalars(select(Chunk.vector_id).where(Chunk.repository_id == repository_id)))
        namespaces = set(session.scalars(select(Store.namespace).where(Store.workspace_id == repository.workspace_id)))
        prefix = f"{repository.uid}:"
        keywords = keyword_ids(session, repository.uid)
    in_store: set[str] = set()
    for namespace in namespaces:
        in_store.update(runtime.vector_store.list_ids(namespace, prefix=prefix))
    return Verification(
        ledger=len(ledger),
        store=len(in_store),
        missing=sorted(ledger - in_store),
        orphaned=sorted(in_store - ledger),
        keyword_missing=sorted(ledger - keywords),
        keyword_orphaned=sorted(keywords - ledger),
    )

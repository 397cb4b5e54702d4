"""Stage 3 of one batch: embed what is new, then the commit point (journal → upsert → catalog → delete → clear
journal). Every batch of a run goes through it; only the final batch records the run's skipped files, the
documents' parents and the repository's ``last_ingested_commit`` (a partially ingested head never looks done)."""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import (
    Chunk,
    ConfigStatus,
    Document,
    IngestJournal,
    Repository,
    SkippedEntry,
    Store,
    utcnow,
)
from lightfast_pipeline.ingestion import faults
from lightfast_pipeline.ingestion.stages import ChunksStage, IngestReport
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.stores.store import delete_vectors
from lightfast_pipeline.vectorstores.base import VectorRecord

EMBED_BATCH = 64
FETCH_BATCH = 500
FOLDER_INDEXES = ("README.md", "readme.md", "index.md", "_index.md")


def _fetch_reusable(runtime: Runtime, namespace: str, source_ids: list[str]) -> dict[str, list[float]]:
    """Vectors of the ids to copy that the store shows now (an eventually consistent store may not show a
    vector written a moment ago, and a drifted one may have lost it: those are embedded instead)."""
    fetched: dict[str, list[float]] = {}
    for start in range(0, len(source_ids), FETCH_BATCH):
        fetched.update(runtime.vector_store.fetch(namespace, source_ids[start : start + FETCH_BATCH]))
    return fetched


def _vectors_for(runtime: Runtime, stage: ChunksStage, namespace: str):
    """Vectors of every id that needs writing; returns (records, embedded count, reused count)."""
    texts: dict[str, str] = {}
    wanted: list[tuple[str, str, str]] = []  # (vector id, content hash, document uid)
    copies: list[tuple[str, str, str]] = []  # (vector id, source id, document uid)
    drafts = {}
    for plan in stage.plans:
        by_id = dict(zip(plan.vector_ids, plan.drafts, strict=True))
        drafts.update(by_id)
        copies.extend((new_id, source_id, plan.document.uid) for new_id, source_id in plan.reuse)
        wanted.extend((vector_id, by_id[vector_id].content_hash, plan.document.uid) for vector_id in plan.embed)
    source_ids = sorted({source_id for _new, source_id, _doc in copies})
    fetched = _fetch_reusable(runtime, namespace, source_ids)
    wanted.extend((new_id, drafts[new_id].content_hash, doc) for new_id, source, doc in copies if source not in fetched)
    copies = [copy for copy in copies if copy[1] in fetched]
    for vector_id, content_hash, _doc in wanted:
        texts.setdefault(content_hash, drafts[vector_id].text)
    # Content that appears in several new places is sent to the model once.
    order = list(texts)
    vectors: dict[str, list[float]] = {}
    for start in range(0, len(order), EMBED_BATCH):
        batch = order[start : start + EMBED_BATCH]
        for content_hash, vector in zip(
            batch, runtime.embedder.embed_documents([texts[h] for h in batch]), strict=True
        ):
            vectors[content_hash] = list(vector)
    repository = stage.documents.repository_uid
    records = [
        VectorRecord(vector_id, vectors[content_hash], {"repository": repository, "document": doc_uid})
        for vector_id, content_hash, doc_uid in wanted
    ]
    records.extend(
        VectorRecord(new_id, fetched[source_id], {"repository": repository, "document": doc_uid})
        for new_id, source_id, doc_uid in copies
    )
    return records, len(order), len(wanted) - len(order) + len(copies)


def _parent_finder(indexes: dict[int, str]) -> Callable[[int, str], int | None]:
    """Each document's parent from its id and path: the README/index document of the nearest enclosing folder.

    ``indexes`` are the folder index documents (id -> path); others are ignored. The folders walked up are
    cached (linear in the documents; the per-document probe of four names per level took seconds at 10,000
    files).
    """
    index_of: dict[str, tuple[int, int]] = {}  # folder -> (rank in FOLDER_INDEXES, document id)
    for doc_id, path in indexes.items():
        name = posixpath.basename(path)
        if name in FOLDER_INDEXES:
            ranked = (FOLDER_INDEXES.index(name), doc_id)
            index_of[posixpath.dirname(path)] = min(index_of.get(posixpath.dirname(path), ranked), ranked)
    nearest: dict[str, int | None] = {}  # folder -> index document at or above it

    def lookup(folder: str | None) -> int | None:
        walked: list[str] = []
        found = None
        while folder is not None:
            if folder in nearest:
                found = nearest[folder]
                break
            walked.append(folder)
            if folder in index_of:
                found = index_of[folder][1]
                break
            folder = posixpath.dirname(folder) if folder else None
        for seen in walked:
            nearest[seen] = found
        return found

    def parent_of(doc_id: int, path: str) -> int | None:
        folder: str | None = posixpath.dirname(path)
        if posixpath.basename(path) in FOLDER_INDEXES:
            folder = posixpath.dirname(folder) if folder else None
        parent = lookup(folder)
        return parent if parent != doc_id else None

    return parent_of


def _commit_catalog(runtime: Runtime, stage: ChunksStage, dead: list[str], *, final: bool) -> None:
    """One transaction: ledger, documents and repository counters move together; the ``final`` batch also
    replaces the skipped entries, recomputes parents and advances ``last_ingested_commit``.

    The keyword index moves with the ledger: triggers on ``chunks`` write and delete its rows (migration 0003).
    Parents are computed once per run, over the whole repository, in the final batch: per batch it would read
    every document of the repository again (quadratic at 250,000 files). Until then a new document has no
    parent, and a killed run's documents get theirs from the run that completes.
    """
    documents = stage.documents
    now = utcnow()
    with runtime.session() as session:
        if dead:
            for start in range(0, len(dead), FETCH_BATCH):
                session.execute(delete(Chunk).where(Chunk.vector_id.in_(dead[start : start + FETCH_BATCH])))
        deleted = sorted(set(documents.deleted_uids))
        for start in range(0, len(deleted), FETCH_BATCH):
            session.execute(delete(Document).where(Document.uid.in_(deleted[start : start + FETCH_BATCH])))
        for rename in documents.renamed:
            session.execute(
                update(Document).where(Document.uid == rename.uid).values(path=rename.new_path, commit=documents.commit)
            )
        for plan in stage.plans:
            parsed = plan.document
            row = session.scalar(select(Document).where(Document.uid == parsed.uid))
            if row is None:
                row = Document(uid=parsed.uid, store_id=documents.store_id, repository_id=documents.repository_id)
                session.add(row)
            row.path = parsed.path
            row.blob_id = parsed.blob_id
            row.content_hash = parsed.content_hash
            row.config_hash = documents.config_hash
            row.title = parsed.title
            row.frontmatter = parsed.frontmatter
            row.relationships = parsed.relationships
            row.size_bytes = parsed.size
            row.chunk_count = len(plan.drafts)
            row.commit = documents.commit
            row.indexed_at = now
            session.flush()
            kept = set(plan.keep)
            for index, (vector_id, draft) in enumerate(zip(plan.vector_ids, plan.drafts, strict=True)):
                if vector_id in kept:
                    session.execute(
                        update(Chunk)
                        .where(Chunk.vector_id == vector_id)
                        .values(chunk_index=index, heading_path=draft.heading_path)
                    )
                    continue
                session.add(
                    Chunk(
                        vector_id=vector_id,
                        document_id=row.id,
                        store_id=documents.store_id,
                        repository_id=documents.repository_id,
                        chunk_index=index,
                        content_hash=draft.content_hash,
                        heading_path=draft.heading_path,
                        token_count=draft.token_count,
                        text=draft.text,
                    )
                )
        repository = session.get(Repository, documents.repository_id)
        assert repository is not None
        repository.store_id = documents.store_id
        if final:
            session.execute(delete(SkippedEntry).where(SkippedEntry.repository_id == documents.repository_id))
            session.add_all(
                SkippedEntry(repository_id=documents.repository_id, path=path, blob_id=blob_id, reason=reason)
                for path, (blob_id, reason) in documents.skipped.items()
            )
            session.flush()
            _update_parents(session, documents.repository_id)
            repository.last_ingested_commit = documents.commit
            repository.last_ingested_at = now
            repository.last_synced_at = now
            if repository.config_status == ConfigStatus.INGESTING:
                repository.config_status = ConfigStatus.CONFIGURED.value
        session.flush()
        repository.document_count = session.scalar(
            select(func.count()).select_from(Document).where(Document.repository_id == repository.id)
        )
        repository.chunk_count = session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.repository_id == repository.id)
        )


def _update_parents(session: Session, repository_id: int) -> None:
    """Set every document's parent (the README/index of its nearest enclosing folder) where it changed.

    The folder indexes are read first, then every document as a stream (``FETCH_BATCH`` rows at a time): the
    repository's rows are never held (issue 15: 46 MB of heap at 100,000 documents, in the final batch).
    """
    in_repository = Document.repository_id == repository_id
    named = or_(*(Document.path.endswith(name, autoescape=True) for name in FOLDER_INDEXES))
    indexes = session.execute(select(Document.id, Document.path).where(in_repository, named)).all()
    parent_of = _parent_finder(dict(indexes))
    rows = session.execute(
        select(Document.id, Document.path, Document.parent_document_id)
        .where(in_repository)
        .execution_options(yield_per=FETCH_BATCH)
    )
    changed: dict[int | None, list[int]] = {}  # new parent -> documents
    for doc_id, path, current in rows:
        if (parent := parent_of(doc_id, path)) != current:
            changed.setdefault(parent, []).append(doc_id)
    for parent, ids in changed.items():
        for start in range(0, len(ids), FETCH_BATCH):
            chunk = ids[start : start + FETCH_BATCH]
            session.execute(update(Document).where(Document.id.in_(chunk)).values(parent_document_id=parent))


def write_index(runtime: Runtime, stage: ChunksStage, *, batch: int = 1, final: bool = True) -> IngestReport:
    """Embed and commit one batch; a crash at any point leaves a state the next run repairs from the journal.

    ``batch`` (1-based) names the batch for fault points; ``final`` marks the run's last batch.
    """
    documents = stage.documents
    started = time.perf_counter()
    namespace = None
    records: list[VectorRecord] = []
    embedded = reused = 0
    with runtime.session() as session:
        if documents.store_id is not None:
            store = session.get(Store, documents.store_id)
            assert store is not None
            namespace = store.namespace
            runtime.vector_store.ensure_namespace(namespace, store.embedding_dimension)
        dead_namespaces: dict[str, str] = {}
        for start in range(0, len(stage.dead), FETCH_BATCH):
            dead_namespaces.update(
                session.execute(
                    select(Chunk.vector_id, Store.namespace)
                    .join(Store, Store.id == Chunk.store_id)
                    .where(Chunk.vector_id.in_(stage.dead[start : start + FETCH_BATCH]))
                ).all()
            )
    faults.reached("before", "embed", batch)
    if namespace is not None:
        records, embedded, reused = _vectors_for(runtime, stage, namespace)
    faults.reached("after", "embed", batch)
    embedded_at = time.perf_counter()
    dead = list(dict.fromkeys(stage.dead))
    by_namespace: dict[str, list[str]] = {}
    for vector_id in dead:
        by_namespace.setdefault(dead_namespaces.get(vector_id) or namespace or "", []).append(vector_id)
    journal_id = None
    if records or dead:
        planned = {name: list(ids) for name, ids in by_namespace.items() if name}
        if namespace is not None and records:
            planned.setdefault(namespace, []).extend(record.id for record in records)
        with runtime.session() as session:
            journal = IngestJournal(repository_id=documents.repository_id, run_id=documents.run_id, vector_ids=planned)
            session.add(journal)
            session.flush()
            journal_id = journal.id
    faults.reached("before", "upsert", batch)
    if records and namespace is not None:
        runtime.vector_store.upsert(namespace, records)
    faults.reached("after", "upsert", batch)
    faults.reached("before", "commit", batch)
    _commit_catalog(runtime, stage, dead, final=final)
    faults.reached("after", "commit", batch)
    faults.reached("before", "delete", batch)
    for target, ids in by_namespace.items():
        if target:
            delete_vectors(runtime.vector_store, target, ids)
    faults.reached("after", "delete", batch)
    if journal_id is not None:
        with runtime.session() as session:
            session.execute(delete(IngestJournal).where(IngestJournal.id == journal_id))
    written_at = time.perf_counter()
    return IngestReport(
        commit=documents.commit,
        documents={
            "added": documents.added,
            "modified": documents.modified,
            "deleted": len(set(documents.deleted_uids)),
            "unchanged": documents.unchanged,
            "skipped": len(documents.skipped),
        },
        chunks={"embedded": embedded, "reused": reused, "deleted": len(dead)},
        seconds={
            **documents.seconds,
            "chunk": stage.seconds,
            "embed": embedded_at - started,
            "write": written_at - embedded_at,
        },
        blobs_read=documents.blobs_read,
        api_calls=documents.api_calls,
        config_status=documents.config_status,
        skipped={path: reason for path, (_blob, reason) in documents.skipped.items()},
    )

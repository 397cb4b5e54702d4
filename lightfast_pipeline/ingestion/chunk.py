"""Stage 2: chunk changed documents and decide, per chunk, keep / reuse / embed / delete."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sqlalchemy import select

from lightfast_pipeline.catalog.models import Chunk, Document, Store
from lightfast_pipeline.index.chunk_plan import plan_chunks
from lightfast_pipeline.index.chunking import ChunkDraft, chunk_markdown, chunk_text
from lightfast_pipeline.ingestion.stages import ChunksStage, DocumentChunks, DocumentsStage, ParsedFile
from lightfast_pipeline.runtime import Runtime

LOOKUP_BATCH = 500


def _batches(items: list[str], size: int = LOOKUP_BATCH) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def draft_chunks(
    kind: str, title: str, body: str, store: Store, count_tokens: Callable[[str], int]
) -> list[ChunkDraft]:
    """A document's chunks with the store's chunk size and overlap (markdown by structure, text by lines)."""
    chunker = chunk_markdown if kind == "markdown" else chunk_text
    return chunker(title, body, count_tokens, store.chunk_max_tokens, store.chunk_overlap)


def _drafts(document: ParsedFile, store: Store, runtime: Runtime) -> list[ChunkDraft]:
    return draft_chunks(document.kind, document.title, document.body, store, runtime.embedder.count_tokens)


def chunk_documents(runtime: Runtime, documents: DocumentsStage) -> ChunksStage:
    """Chunk every changed document and plan its vector ids against the store's ledger."""
    started = time.perf_counter()
    stage = ChunksStage(documents=documents)
    with runtime.session() as session:
        if documents.deleted_uids:
            for uids in _batches(documents.deleted_uids):
                stage.dead_from_deleted.extend(
                    session.scalars(select(Chunk.vector_id).join(Document).where(Document.uid.in_(uids)))
                )
        if documents.store_id is None or not documents.changed:
            stage.seconds = time.perf_counter() - started
            return stage
        store = session.get(Store, documents.store_id)
        assert store is not None
        drafts = {doc.uid: _drafts(doc, store, runtime) for doc in documents.changed}
        # Existing ledger of the changed documents, and any vector in the store with the same content.
        existing: dict[str, dict[str, str]] = {doc.uid: {} for doc in documents.changed}
        changed_uids = [doc.uid for doc in documents.changed if not doc.is_new]
        for uids in _batches(changed_uids):
            for uid, vector_id, content_hash in session.execute(
                select(Document.uid, Chunk.vector_id, Chunk.content_hash).join(Document).where(Document.uid.in_(uids))
            ):
                existing[uid][vector_id] = content_hash
        hashes = sorted({draft.content_hash for doc_drafts in drafts.values() for draft in doc_drafts})
        in_store: dict[str, str] = {}
        for batch in _batches(hashes):
            for content_hash, vector_id in session.execute(
                select(Chunk.content_hash, Chunk.vector_id).where(
                    Chunk.store_id == store.id, Chunk.content_hash.in_(batch)
                )
            ):
                in_store.setdefault(content_hash, vector_id)
    for document in documents.changed:
        plan = plan_chunks(
            documents.repository_uid, document.uid, drafts[document.uid], existing[document.uid], in_store.get
        )
        stage.plans.append(
            DocumentChunks(
                document=document,
                drafts=drafts[document.uid],
                vector_ids=plan.vector_ids,
                keep=plan.keep,
                reuse=plan.reuse,
                embed=plan.embed,
                dead=plan.dead,
            )
        )
    stage.seconds = time.perf_counter() - started
    return stage

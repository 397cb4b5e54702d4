"""Index truth of one repository: list the store's ids, read the ledger, derive the source's chunk ids.

The source's ids are derived at the repository's last ingested commit, without embedding anything: the tree
at that commit, filtered by the ``lightfast.yml`` found there, is compared with the catalog's documents. A
document whose blob id and chunking fingerprint equal the catalog's has, by content addressing (a git blob id
is the hash of its bytes, chunking is deterministic), exactly the ledger's chunks; every other document is
read and chunked to name its ids. ``deep`` reads and chunks every document (``lightfast repo verify``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from lightfast_pipeline.catalog.keywords import keyword_ids
from lightfast_pipeline.catalog.models import Chunk, Document, Repository, SkippedEntry, Store
from lightfast_pipeline.config.detect import detect_config
from lightfast_pipeline.index.chunk_plan import plan_chunks
from lightfast_pipeline.index.filters import decode_text, document_kind, skip_reason_for_entry
from lightfast_pipeline.index.parse import parse_document
from lightfast_pipeline.index.truth import IndexTruth, compare_index
from lightfast_pipeline.ingestion.chunk import draft_chunks
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import Source
from lightfast_pipeline.stores.store import StoreError, chunking_fingerprint
from lightfast_pipeline.vectorstores.consistency import read_settled

UNINDEXED = "?"
"""Prefix of the stand-in document uid of a file the source has and the catalog lacks (``?{path}``)."""


@dataclass(frozen=True)
class _Catalog:
    """What the catalog holds for one repository."""

    repository_uid: str
    commit: str | None
    store: Store | None
    documents: dict[str, tuple[str, str, str]]  # path -> (uid, blob id, config hash)
    ledger: list[tuple[str, str]]  # (vector id, document uid) per chunk row: not a set per document (memory)
    skipped: dict[str, str]  # path -> blob id
    namespaces: set[str]


def _catalog(runtime: Runtime, repository_id: int) -> _Catalog:
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        store = session.get(Store, repository.store_id) if repository.store_id else None
        if store is not None:
            session.expunge(store)
        ledger = [
            (vector_id, uid)
            for vector_id, uid in session.execute(
                select(Chunk.vector_id, Document.uid).join(Document).where(Chunk.repository_id == repository_id)
            )
        ]
        config_hashes: dict[str, str] = {}  # one string per distinct hash, not one per document
        return _Catalog(
            repository_uid=repository.uid,
            commit=repository.last_ingested_commit,
            store=store,
            documents={
                path: (uid, blob_id, config_hashes.setdefault(config_hash, config_hash))
                for uid, path, blob_id, config_hash in session.execute(
                    select(Document.uid, Document.path, Document.blob_id, Document.config_hash).where(
                        Document.repository_id == repository_id
                    )
                )
            },
            ledger=ledger,
            skipped=dict(
                session.execute(
                    select(SkippedEntry.path, SkippedEntry.blob_id).where(SkippedEntry.repository_id == repository_id)
                ).all()
            ),
            namespaces=set(
                session.scalars(select(Store.namespace).where(Store.workspace_id == repository.workspace_id))
            ),
        )


def model_mismatch(slug: str, model: str, configured: str) -> StoreError:
    """The error for a store whose vectors were made by another model than the configured one."""
    return StoreError(
        f"store {slug!r} holds {model} vectors but the configured embedder is {configured}: "
        f"configure {model} to verify or repair it, or `lightfast store rebuild {slug}`"
    )


def _expected_ids(runtime: Runtime, catalog: _Catalog, source: Source, *, deep: bool) -> set[str]:
    """Vector ids of the chunks the source yields at the ingested commit (nothing is embedded).

    Chunk bounds depend on the model's tokenizer: another configured model is refused (StoreError)."""
    commit, store = catalog.commit, catalog.store
    if commit is None or store is None:
        return set()
    if store.embedding_model != runtime.embedder.model:
        raise model_mismatch(store.slug, store.embedding_model, runtime.embedder.model)
    config = detect_config(lambda path: source.read_file(commit, path)).config
    if config is None:
        return set()
    fingerprint = chunking_fingerprint(store)
    unchanged: set[str] = set()  # uids of the documents whose ledger chunks are the source's
    to_read: dict[str, list[tuple[str, str]]] = {}  # blob id -> [(path, document uid)]
    for entry in source.tree(commit):
        if not config.matches(entry.path) or skip_reason_for_entry(entry, config.max_file_bytes) is not None:
            continue
        if catalog.skipped.get(entry.path) == entry.blob_id:
            continue
        uid, blob_id, config_hash = catalog.documents.get(entry.path, (f"{UNINDEXED}{entry.path}", "", ""))
        if not deep and (blob_id, config_hash) == (entry.blob_id, fingerprint):
            unchanged.add(uid)
            continue
        to_read.setdefault(entry.blob_id, []).append((entry.path, uid))
    expected = {vector_id for vector_id, uid in catalog.ledger if uid in unchanged}
    for blob_id, data in source.read_blobs(list(to_read), max_bytes=config.max_file_bytes):
        text, _reason = decode_text(data)
        if text is None:
            continue
        for path, uid in to_read[blob_id]:
            parsed = parse_document(path, text)
            drafts = draft_chunks(document_kind(path), parsed.title, parsed.body, store, runtime.embedder.count_tokens)
            expected.update(plan_chunks(catalog.repository_uid, uid, drafts, {}, lambda _hash: None).vector_ids)
    return expected


def store_ids(runtime: Runtime, repository_uid: str, namespaces: set[str]) -> dict[str, set[str]]:
    """The repository's vector ids in each namespace that holds some."""
    found = {
        namespace: set(runtime.vector_store.list_ids(namespace, prefix=f"{repository_uid}:"))
        for namespace in sorted(namespaces)
    }
    return {namespace: ids for namespace, ids in found.items() if ids}


def _settled_store_ids(runtime: Runtime, catalog: _Catalog, ledger: set[str]) -> set[str]:
    """The repository's ids in the store, read again (within the store's consistency window) while they differ
    from the ledger: right after a write an eventually consistent store may not show it yet."""
    return read_settled(
        lambda: set().union(*store_ids(runtime, catalog.repository_uid, catalog.namespaces).values()),
        lambda ids: ids == ledger,
        runtime.vector_store.consistency_seconds,
    )


def index_truth(
    runtime: Runtime, repository_id: int, source: Source, *, deep: bool = False, source_unchanged: bool = False
) -> IndexTruth:
    """Compare the store's vector ids for the repository with the ledger and with the source's chunks.

    ``source_unchanged``: the run found the head at the commit already verified, so the ledger stands for the
    source's chunks and the source is not read (a no-op run makes one API call).
    """
    catalog = _catalog(runtime, repository_id)
    ledger = {vector_id for vector_id, _uid in catalog.ledger}
    expected = ledger if source_unchanged else _expected_ids(runtime, catalog, source, deep=deep)
    in_store = _settled_store_ids(runtime, catalog, ledger)
    uids = {uid for uid, _blob, _hash in catalog.documents.values()}
    with runtime.session() as session:
        keywords = keyword_ids(session, catalog.repository_uid)
    return compare_index(catalog.commit, in_store, ledger, expected, uids, keywords)

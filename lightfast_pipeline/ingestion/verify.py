"""Index truth of one repository: list the store's ids, read the ledger, derive the source's chunk ids.

The source's ids are derived at the repository's last ingested commit, without embedding anything: the tree
at that commit, filtered by the ``lightfast.yml`` found there, is compared with the catalog's documents. A
document whose blob id and chunking fingerprint equal the catalog's has, by content addressing (a git blob id
is the hash of its bytes, chunking is deterministic), exactly the ledger's chunks; every other document is
read and chunked to name its ids. ``deep`` reads and chunks every document (``lightfast repo verify``).

Memory does not grow with strings (issue 15): the tree and the catalog's documents are merged in path order
(as a run plans), holding only the documents that differ, and every id set is streamed — the ledger and
keyword rows in partitions, the store's listing in batches, the source's ids as they are derived — into
16-byte digests (:mod:`lightfast_pipeline.index.digests`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import Select, select

from lightfast_pipeline.catalog.keywords import stream_keyword_ids
from lightfast_pipeline.catalog.models import Chunk, Document, Repository, SkippedEntry, Store
from lightfast_pipeline.config.detect import detect_config
from lightfast_pipeline.config.schema import LightfastConfig
from lightfast_pipeline.index.chunk_plan import plan_chunks
from lightfast_pipeline.index.digests import Listing, digest_set
from lightfast_pipeline.index.filters import decode_text, document_kind, skip_reason_for_entry
from lightfast_pipeline.index.parse import parse_document
from lightfast_pipeline.index.plan import merge_tree
from lightfast_pipeline.index.truth import Expected, IndexTruth, compare_index, document_of
from lightfast_pipeline.ingestion.chunk import draft_chunks
from lightfast_pipeline.ingestion.tree_plan import known_documents
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import Source, TreeEntry
from lightfast_pipeline.stores.store import StoreError, chunking_fingerprint
from lightfast_pipeline.vectorstores.consistency import read_settled

UNINDEXED = "?"
"""Prefix of the stand-in document uid of a file the source has and the catalog lacks (``?{path}``)."""
PARTITION = 10_000
"""Catalog rows fetched at a time when streaming (a server-side cursor on PostgreSQL)."""


@dataclass(frozen=True)
class _Catalog:
    """What the catalog holds for one repository, without its documents or chunks (those are streamed)."""

    repository_id: int
    repository_uid: str
    commit: str | None
    store: Store | None
    skipped: dict[str, str]  # path -> blob id
    namespaces: set[str]


def _catalog(runtime: Runtime, repository_id: int) -> _Catalog:
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        store = session.get(Store, repository.store_id) if repository.store_id else None
        if store is not None:
            session.expunge(store)
        return _Catalog(
            repository_id=repository_id,
            repository_uid=repository.uid,
            commit=repository.last_ingested_commit,
            store=store,
            skipped=dict(
                session.execute(
                    select(SkippedEntry.path, SkippedEntry.blob_id).where(SkippedEntry.repository_id == repository_id)
                ).all()
            ),
            namespaces=set(
                session.scalars(select(Store.namespace).where(Store.workspace_id == repository.workspace_id))
            ),
        )


def _rows(runtime: Runtime, statement: Select[Any]) -> Iterator[Any]:
    """The rows of ``statement``, fetched PARTITION at a time."""
    with runtime.session() as session:
        for partition in session.execute(statement.execution_options(yield_per=PARTITION)).partitions():
            yield from partition


def _values(runtime: Runtime, statement: Select[Any]) -> Iterator[Any]:
    """The first column of ``statement``'s rows, fetched PARTITION at a time."""
    return (row[0] for row in _rows(runtime, statement))


def model_mismatch(slug: str, model: str, configured: str) -> StoreError:
    """The error for a store whose vectors were made by another model than the configured one."""
    return StoreError(
        f"store {slug!r} holds {model} vectors but the configured embedder is {configured}: "
        f"configure {model} to verify or repair it, or `lightfast store rebuild {slug}`"
    )


def _indexable(entry: TreeEntry, catalog: _Catalog, config: LightfastConfig) -> bool:
    """Whether the source's file is one the repository's config indexes (and not skipped at this blob)."""
    return (
        config.matches(entry.path)
        and skip_reason_for_entry(entry, config.max_file_bytes) is None
        and catalog.skipped.get(entry.path) != entry.blob_id
    )


def _sort_out(
    runtime: Runtime, catalog: _Catalog, entries: Iterable[TreeEntry], fingerprint: str, *, deep: bool
) -> tuple[set[str], dict[str, list[tuple[str, str]]]]:
    """The uids of the catalog's documents whose ledger chunks are not the source's (changed or gone from the
    tree), and the files to read and chunk: blob id -> [(path, document uid)].

    The tree and the catalog's documents are merged in path order (``index.plan.merge_tree``, as a run plans),
    so only the documents that differ are held: nothing after a run that left the index as it should be.
    A file the catalog lacks gets the stand-in uid ``?{path}``."""
    differing: set[str] = set()
    to_read: dict[str, list[tuple[str, str]]] = {}

    def read(path: str, blob_id: str, uid: str | None) -> None:
        if uid is not None:
            differing.add(uid)
        to_read.setdefault(blob_id, []).append((path, uid or f"{UNINDEXED}{path}"))

    with runtime.session() as session:
        documents = known_documents(session, catalog.repository_id)
        merged = merge_tree(entries, documents, {}, fingerprint, read, full=deep)
    differing.update(document.uid for _path, document in merged.vanished)
    return differing, to_read


def _expected_ids(runtime: Runtime, catalog: _Catalog, source: Source, *, deep: bool) -> Iterator[str]:
    """Vector ids of the chunks the source yields at the ingested commit (nothing is embedded), streamed:
    the ledger's ids of the unchanged documents, then the ids of the documents read and chunked.

    Chunk bounds depend on the model's tokenizer: another configured model is refused (StoreError)."""
    commit, store = catalog.commit, catalog.store
    if commit is None or store is None:
        return
    if store.embedding_model != runtime.embedder.model:
        raise model_mismatch(store.slug, store.embedding_model, runtime.embedder.model)
    config = detect_config(lambda path: source.read_file(commit, path)).config
    if config is None:
        return
    entries = (entry for entry in source.tree(commit) if _indexable(entry, catalog, config))
    differing, to_read = _sort_out(runtime, catalog, entries, chunking_fingerprint(store), deep=deep)
    ledger = _values(runtime, select(Chunk.vector_id).where(Chunk.repository_id == catalog.repository_id))
    yield from (vector_id for vector_id in ledger if document_of(vector_id) not in differing)
    for blob_id, data in source.read_blobs(list(to_read), max_bytes=config.max_file_bytes):
        text, _reason = decode_text(data)
        if text is None:
            continue
        for path, uid in to_read[blob_id]:
            parsed = parse_document(path, text)
            drafts = draft_chunks(document_kind(path), parsed.title, parsed.body, store, runtime.embedder.count_tokens)
            yield from plan_chunks(catalog.repository_uid, uid, drafts, {}, lambda _hash: None).vector_ids


def store_ids(runtime: Runtime, repository_uid: str, namespaces: set[str]) -> dict[str, set[str]]:
    """The repository's vector ids in each namespace that holds some."""
    found = {
        namespace: set(runtime.vector_store.list_ids(namespace, prefix=f"{repository_uid}:"))
        for namespace in sorted(namespaces)
    }
    return {namespace: ids for namespace, ids in found.items() if ids}


def _settled_store(runtime: Runtime, catalog: _Catalog, ledger: np.ndarray) -> Listing:
    """The repository's ids in every namespace, read again (within the store's consistency window) while they
    differ from the ledger's digests: right after a write an eventually consistent store may not show it yet."""
    namespaces, prefix = sorted(catalog.namespaces), f"{catalog.repository_uid}:"

    def read() -> Iterator[str]:
        return chain.from_iterable(runtime.vector_store.list_ids(namespace, prefix=prefix) for namespace in namespaces)

    held = read_settled(
        lambda: digest_set(read()), lambda ids: np.array_equal(ids, ledger), runtime.vector_store.consistency_seconds
    )
    return Listing(held, read)


def _keyword_ids(runtime: Runtime, repository_uid: str) -> Iterator[str]:
    """The repository's ids with a keyword row, streamed in a session of their own."""
    with runtime.session() as session:
        yield from stream_keyword_ids(session, repository_uid)


def index_truth(
    runtime: Runtime, repository_id: int, source: Source, *, deep: bool = False, source_unchanged: bool = False
) -> IndexTruth:
    """Compare the store's vector ids for the repository with the ledger and with the source's chunks.

    Each set is streamed into digests (:mod:`lightfast_pipeline.index.digests`): the check holds 16 bytes per
    id and per document, not the strings. ``source_unchanged``: the run found the head at the commit already
    verified, so the ledger stands for the source's chunks and the source is not read (a no-op run makes one
    API call).
    """
    catalog = _catalog(runtime, repository_id)
    ledger = Listing.of(lambda: _values(runtime, select(Chunk.vector_id).where(Chunk.repository_id == repository_id)))
    ids = ledger.read() if source_unchanged else _expected_ids(runtime, catalog, source, deep=deep)
    expected = Expected.of(ids, ledger.digests)
    in_store = _settled_store(runtime, catalog, ledger.digests)
    keywords = Listing.of(lambda: _keyword_ids(runtime, catalog.repository_uid))
    return compare_index(
        catalog.commit,
        in_store,
        ledger,
        expected,
        lambda: _values(runtime, select(Document.uid).where(Document.repository_id == repository_id)),
        keywords,
    )

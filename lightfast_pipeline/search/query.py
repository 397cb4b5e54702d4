"""Search: vector and keyword candidates from the workspace's stores, fused, shown as the catalog describes them."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import Chunk, Document, Repository, Store
from lightfast_pipeline.metrics.record import record_metric
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.fuse import DEFAULT_FUSION, FUSIONS, best_per_key, fuse
from lightfast_pipeline.search.keyword import keyword_search
from lightfast_pipeline.workspaces.repositories import RepositoryError, find_repository
from lightfast_pipeline.workspaces.workspace import find_workspace

SNIPPET_CHARS = 240
OVERSAMPLE = 4
MIN_CANDIDATES = 50  # chunks each retriever returns before fusion (several chunks of one page collapse to one)
PREFIX_OVERSAMPLE = 5  # vector candidates are filtered by path after retrieval (paths live in the catalog)
MODES = ("hybrid", "vector", "keyword")
KEYWORD_THREADS = 8  # hybrid searches of one process whose keyword queries can run at once


class SearchError(Exception):
    """A user-facing search problem."""


@dataclass(frozen=True)
class SearchHit:
    path: str
    title: str
    heading: str
    snippet: str
    score: float
    repository: str
    vector_rank: int | None = None  # position of this chunk among the vector candidates (1 = nearest)
    keyword_rank: int | None = None  # position of this chunk among the keyword candidates (1 = best BM25)


@dataclass(frozen=True)
class SearchResult:
    results: list[SearchHit]
    latency_ms: dict[str, float]
    mode: str = "vector"


def make_snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The chunk body (without its breadcrumb line), whitespace collapsed, cut at a word boundary."""
    body = text.split("\n\n", 1)[1] if "\n\n" in text else text
    flat = re.sub(r"\s+", " ", body).strip()
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


def _check(query: str, top_k: int, mode: str, fusion: str) -> None:
    if not query.strip():
        raise SearchError("the query is empty")
    if not 1 <= top_k <= 100:
        raise SearchError("--top-k must be between 1 and 100")
    if mode not in MODES:
        raise SearchError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if fusion not in FUSIONS:
        raise SearchError(f"unknown fusion {fusion!r}: choose one of {', '.join(FUSIONS)}")


def _scope(session: Session, workspace: str | None, repository: str | None) -> tuple[int, list[Store], str | None]:
    """The workspace id, its stores and the uid of the repository to filter on (which must belong to it)."""
    ws = find_workspace(session, workspace)
    stores = list(session.scalars(select(Store).where(Store.workspace_id == ws.id)))
    if repository is None:
        return ws.id, stores, None
    try:
        found = find_repository(session, repository)
    except RepositoryError as exc:
        raise SearchError(str(exc)) from exc
    if found.workspace_id != ws.id:
        raise SearchError(f"repository {repository!r} is not in workspace {ws.slug!r}")
    return ws.id, stores, found.uid


def _catalog_rows(session: Session, ids: set[str], path_prefix: str | None) -> dict[str, object]:
    """Display rows of the candidate chunks that belong to active repositories and match the path prefix."""
    query = (
        select(
            Chunk.vector_id,
            Chunk.text,
            Chunk.heading_path,
            Document.uid,
            Document.path,
            Document.title,
            Repository.full_name,
        )
        .join(Document, Document.id == Chunk.document_id)
        .join(Repository, Repository.id == Chunk.repository_id)
        .where(Chunk.vector_id.in_(ids), Repository.active.is_(True))
    )
    if path_prefix:
        query = query.where(Document.path.startswith(path_prefix, autoescape=True))
    return {row.vector_id: row for row in session.execute(query)}


def _rank(
    vector: list[tuple[Hashable, float]],
    keyword: list[tuple[Hashable, float]],
    doc_of: dict[Hashable, Hashable],
    per_document: bool,
    fusion: str,
) -> list[tuple[str, float]]:
    """(chunk id, score) best first: one chunk per document when ``per_document``."""
    lists = [ranked for ranked in (vector, keyword) if ranked]
    if len(lists) == 1:  # one retriever: its own order and scores
        ranked = lists[0]
        return best_chunks(ranked, doc_of) if per_document else list(ranked)  # type: ignore[arg-type]
    chunk_scores = fuse(lists, fusion)
    if not per_document:
        return sorted(chunk_scores.items(), key=lambda item: item[1], reverse=True)  # type: ignore[return-value]
    # Documents are ranked by fusing each retriever's document order; each shows its best fused chunk.
    doc_scores = fuse([best_per_key(ranked, doc_of) for ranked in lists], fusion)
    best: dict[Hashable, Hashable] = {}
    for chunk_id, score in chunk_scores.items():
        doc = doc_of[chunk_id]
        if doc not in best or score > chunk_scores[best[doc]]:
            best[doc] = chunk_id
    order = sorted(doc_scores.items(), key=lambda item: item[1], reverse=True)
    return [(best[doc], score) for doc, score in order]  # type: ignore[misc]


def best_chunks(ranked: list[tuple[str, float]], doc_of: dict[Hashable, Hashable]) -> list[tuple[str, float]]:
    """The first (best) chunk of each document, in order."""
    seen: set[Hashable] = set()
    kept: list[tuple[str, float]] = []
    for chunk_id, score in ranked:
        if doc_of[chunk_id] not in seen:
            seen.add(doc_of[chunk_id])
            kept.append((chunk_id, score))
    return kept


def search(
    runtime: Runtime,
    query: str,
    workspace: str | None,
    *,
    top_k: int = 5,
    per_document: bool = True,
    mode: str = "hybrid",
    repository: str | None = None,
    path_prefix: str | None = None,
    fusion: str = DEFAULT_FUSION,
    record: bool = True,
) -> SearchResult:
    """Top ``top_k`` hits in one workspace (by default the best chunk of each document).

    ``mode``: ``hybrid`` (vector and keyword candidates fused by ``fusion``: ``weighted`` sum, the measured
    default, or ``rrf``), ``vector`` or ``keyword``.
    ``repository`` (id, uid or name) and ``path_prefix`` restrict the candidates. ``record=False`` keeps the
    query out of the query metrics (evaluation runs). Latency: ``embed``, ``vector``, ``keyword`` (each
    retriever's own time: in hybrid mode the keyword query runs at the same time as the other two), ``fuse``
    (catalog join and fusion), ``retrieve`` (``total`` minus ``embed``) and ``total``, in milliseconds.
    """
    _check(query, top_k, mode, fusion)
    # Model weights and store clients load before timing starts: latency is the query's, not the process's.
    if mode != "keyword":
        runtime.embedder.warm_up()
    started = time.perf_counter()
    with runtime.session() as session:
        workspace_id, stores, repository_uid = _scope(session, workspace, repository)
    scoped = embedded = time.perf_counter()
    fetch = max(MIN_CANDIDATES, top_k * OVERSAMPLE) if per_document else max(top_k, MIN_CANDIDATES)
    store_ids = [store.id for store in stores]
    keyword_job = functools.partial(_keyword_candidates, runtime, query, store_ids, fetch, repository_uid, path_prefix)
    # Hybrid: the keyword query runs in a thread beside the query embedding and the vector query (SQLite and
    # LanceDB both release the GIL while they work), so its latency hides behind theirs on a second core.
    keyword_future = _pool().submit(keyword_job) if mode == "hybrid" else None
    vector_matches: list[tuple[str, float]] = []
    vector_ms = 0.0
    if mode != "keyword":
        vector = runtime.embedder.embed_query(query)
        embedded = time.perf_counter()
        where = {"repository": repository_uid} if repository_uid else None
        for store in stores:
            if store.embedding_model == runtime.embedder.model:
                vector_matches.extend(
                    (match.id, match.score)
                    for match in runtime.vector_store.query(
                        store.namespace, vector, fetch * (PREFIX_OVERSAMPLE if path_prefix else 1), where
                    )
                )
        vector_matches.sort(key=lambda match: match[1], reverse=True)
        vector_ms = (time.perf_counter() - embedded) * 1000
    keyword_matches: list[tuple[str, float]] = []
    keyword_ms = 0.0
    if keyword_future is not None:
        keyword_matches, keyword_ms = keyword_future.result()
    elif mode == "keyword":
        keyword_matches, keyword_ms = keyword_job()
    retrieved = time.perf_counter()
    with runtime.session() as session:
        rows = _catalog_rows(session, {m[0] for m in vector_matches} | {m[0] for m in keyword_matches}, path_prefix)
        vector_ranked = [match for match in vector_matches if match[0] in rows]
        keyword_ranked = [match for match in keyword_matches if match[0] in rows]
        doc_of: dict[Hashable, Hashable] = {vector_id: row.uid for vector_id, row in rows.items()}  # type: ignore[attr-defined]
        ranked = _rank(vector_ranked, keyword_ranked, doc_of, per_document, fusion)[:top_k]
        vector_rank = {vector_id: rank for rank, (vector_id, _s) in enumerate(vector_ranked, start=1)}
        keyword_rank = {vector_id: rank for rank, (vector_id, _s) in enumerate(keyword_ranked, start=1)}
        hits = [
            _hit(rows[chunk_id], score, vector_rank.get(chunk_id), keyword_rank.get(chunk_id))
            for chunk_id, score in ranked
        ]
        finished = time.perf_counter()
        latency = {
            "embed": round((embedded - scoped) * 1000, 2),
            "vector": round(vector_ms, 2),
            "keyword": round(keyword_ms, 2),
            "fuse": round((finished - retrieved) * 1000, 2),
            "retrieve": round((finished - embedded + scoped - started) * 1000, 2),
            "total": round((finished - started) * 1000, 2),
        }
        if record:
            record_metric(session, "query_latency", latency["total"], workspace_id=workspace_id)
            record_metric(session, "queries_count", 1, workspace_id=workspace_id)
    return SearchResult(results=hits, latency_ms=latency, mode=mode)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads for keyword queries that run beside the vector query (one per concurrent hybrid search)."""
    return ThreadPoolExecutor(max_workers=KEYWORD_THREADS, thread_name_prefix="lightfast-keyword")


def _keyword_candidates(
    runtime: Runtime,
    query: str,
    store_ids: list[int],
    fetch: int,
    repository_uid: str | None,
    path_prefix: str | None,
) -> tuple[list[tuple[str, float]], float]:
    """(vector id, BM25 score) best first from the catalog's keyword index, and the milliseconds it took."""
    started = time.perf_counter()
    with runtime.session() as session:
        matches = keyword_search(
            session,
            query,
            store_ids,
            fetch,
            repository_uid=repository_uid,
            path_prefix=path_prefix,
        )
    return [(match.vector_id, match.score) for match in matches], (time.perf_counter() - started) * 1000


def _hit(row, score: float, vector_rank: int | None, keyword_rank: int | None) -> SearchHit:
    return SearchHit(
        path=row.path,
        title=row.title,
        heading=row.heading_path,
        snippet=make_snippet(row.text),
        score=round(float(score), 4),
        repository=row.full_name,
        vector_rank=vector_rank,
        keyword_rank=keyword_rank,
    )

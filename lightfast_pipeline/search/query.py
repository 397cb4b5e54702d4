"""Search: embed the query, retrieve from the workspace's stores, show what the catalog says about each hit."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import select

from lightfast_pipeline.catalog.models import Chunk, Document, Repository, Store
from lightfast_pipeline.metrics.record import record_metric
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.workspaces.workspace import find_workspace

SNIPPET_CHARS = 240
OVERSAMPLE = 4


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


@dataclass(frozen=True)
class SearchResult:
    results: list[SearchHit]
    latency_ms: dict[str, float]


def make_snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The chunk body (without its breadcrumb line), whitespace collapsed, cut at a word boundary."""
    body = text.split("\n\n", 1)[1] if "\n\n" in text else text
    flat = re.sub(r"\s+", " ", body).strip()
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


def search(
    runtime: Runtime, query: str, workspace: str | None, *, top_k: int = 5, per_document: bool = True
) -> SearchResult:
    """Top ``top_k`` hits in one workspace (by default the best chunk of each document)."""
    if not query.strip():
        raise SearchError("the query is empty")
    if not 1 <= top_k <= 100:
        raise SearchError("--top-k must be between 1 and 100")
    # Model weights and store clients load before timing starts: latency is the query's, not the process's.
    runtime.embedder.warm_up()
    store_backend = runtime.vector_store
    started = time.perf_counter()
    with runtime.session() as session:
        ws = find_workspace(session, workspace)
        workspace_id = ws.id
        stores = list(session.scalars(select(Store).where(Store.workspace_id == ws.id)))
    vector = runtime.embedder.embed_query(query)
    embedded = time.perf_counter()
    matches = []
    fetch = top_k * OVERSAMPLE if per_document else top_k
    for store in stores:
        if store.embedding_model != runtime.embedder.model:
            continue
        matches.extend(store_backend.query(store.namespace, vector, fetch))
    matches.sort(key=lambda match: match.score, reverse=True)
    hits: list[SearchHit] = []
    with runtime.session() as session:
        rows = {
            row.vector_id: row
            for row in session.execute(
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
                .where(Chunk.vector_id.in_([match.id for match in matches]), Repository.active.is_(True))
            )
        }
        seen: set[str] = set()
        for match in matches:
            row = rows.get(match.id)
            if row is None or (per_document and row.uid in seen):
                continue
            seen.add(row.uid)
            hits.append(
                SearchHit(
                    path=row.path,
                    title=row.title,
                    heading=row.heading_path,
                    snippet=make_snippet(row.text),
                    score=round(float(match.score), 4),
                    repository=row.full_name,
                )
            )
            if len(hits) == top_k:
                break
        finished = time.perf_counter()
        latency = {
            "embed": round((embedded - started) * 1000, 2),
            "retrieve": round((finished - embedded) * 1000, 2),
            "total": round((finished - started) * 1000, 2),
        }
        record_metric(session, "query_latency", latency["total"], workspace_id=workspace_id)
        record_metric(session, "queries_count", 1, workspace_id=workspace_id)
    return SearchResult(results=hits, latency_ms=latency)

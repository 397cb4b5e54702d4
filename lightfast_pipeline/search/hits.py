"""Search as the API and MCP tools call it: the CLI's JSON shape, and repository/path filters on the hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.fuse import DEFAULT_FUSION
from lightfast_pipeline.search.query import SearchError, SearchHit, SearchResult, search

MAX_TOP_K = 100  # search()'s own bound


@dataclass(frozen=True)
class SearchFilters:
    """Keep only hits of one repository (full name) and/or under a path prefix."""

    repository: str | None = None
    path_prefix: str | None = None

    def __bool__(self) -> bool:
        return bool(self.repository or self.path_prefix)

    def keeps(self, hit: dict[str, Any]) -> bool:
        """True when ``hit`` (a :func:`hit_dict`) passes every filter."""
        if self.repository and hit["repository"].lower() != self.repository.lower():
            return False
        return not self.path_prefix or hit["path"].startswith(self.path_prefix.lstrip("/"))


def hit_dict(hit: SearchHit) -> dict[str, Any]:
    """One hit in `lightfast search --json` shape."""
    return {
        "path": hit.path,
        "title": hit.title,
        "heading": hit.heading,
        "snippet": hit.snippet,
        "score": hit.score,
        "repository": hit.repository,
        "vector_rank": hit.vector_rank,
        "keyword_rank": hit.keyword_rank,
    }


def search_payload(result: SearchResult) -> dict[str, Any]:
    """A whole search in `lightfast search --json` shape (what the warm service answers, too)."""
    return {"results": [hit_dict(hit) for hit in result.results], "mode": result.mode, "latency_ms": result.latency_ms}


@dataclass(frozen=True)
class ServedSearch:
    """A search's JSON (``search_payload``'s shape) and where it ran: ``service`` or ``process``."""

    payload: dict[str, Any]
    where: str


def filtered_search(
    runtime: Runtime, query: str, workspace: str, *, top_k: int, filters: SearchFilters
) -> ServedSearch:
    """:func:`search` then the filters: with a filter, the best ``MAX_TOP_K`` hits are fetched and filtered,
    so a filter that matches few documents may return fewer than ``top_k`` hits.

    The warm embedding service runs the search when one serves this catalog, store and model (as for
    ``lightfast search``): the model's and LanceDB's threads then work in its process, not beside the API's
    event loop. Otherwise, the same function runs here. Raises :class:`SearchError` for a refused search.
    """
    from lightfast_pipeline.search.served import SearchRefused, served_search

    fetch = MAX_TOP_K if filters else top_k
    arguments = {"query": query, "workspace": workspace, "top_k": fetch, "per_document": True, "mode": "hybrid"}
    arguments |= {"fusion": DEFAULT_FUSION, "repository": None, "path_prefix": None}
    try:
        payload = served_search(runtime.settings, arguments)
    except SearchRefused as refused:
        raise SearchError(str(refused)) from None
    where = "service"
    if payload is None:
        payload, where = search_payload(search(runtime, query, workspace, top_k=fetch)), "process"
    if filters:
        payload["results"] = [hit for hit in payload["results"] if filters.keeps(hit)][:top_k]
    return ServedSearch(payload, where)

"""Search as the API and MCP tools call it: the CLI's JSON shape, and repository/path filters on the hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.query import SearchHit, SearchResult, search

MAX_TOP_K = 100  # search()'s own bound


@dataclass(frozen=True)
class SearchFilters:
    """Keep only hits of one repository (full name) and/or under a path prefix."""

    repository: str | None = None
    path_prefix: str | None = None

    def __bool__(self) -> bool:
        return bool(self.repository or self.path_prefix)

    def keeps(self, hit: SearchHit) -> bool:
        """True when ``hit`` passes every filter."""
        if self.repository and hit.repository.lower() != self.repository.lower():
            return False
        return not self.path_prefix or hit.path.startswith(self.path_prefix.lstrip("/"))


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


def filtered_search(
    runtime: Runtime, query: str, workspace: str, *, top_k: int, filters: SearchFilters
) -> SearchResult:
    """:func:`search` then the filters: with a filter, the best ``MAX_TOP_K`` hits are fetched and filtered,
    so a filter that matches few documents may return fewer than ``top_k`` hits."""
    if not filters:
        return search(runtime, query, workspace, top_k=top_k)
    result = search(runtime, query, workspace, top_k=MAX_TOP_K)
    kept = [hit for hit in result.results if filters.keeps(hit)][:top_k]
    return SearchResult(results=kept, latency_ms=result.latency_ms, mode=result.mode)

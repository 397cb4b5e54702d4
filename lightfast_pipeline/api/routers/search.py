"""`POST /v1/search`: the CLI's search over the key's workspace, with optional repository and path filters."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from lightfast_pipeline.api.auth import current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.hits import SearchFilters, filtered_search, hit_dict
from lightfast_pipeline.search.query import SearchError

router = APIRouter(prefix="/v1", tags=["search"])


class SearchBody(BaseModel):
    """A search request."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=100)
    repository: str | None = Field(None, max_length=300, description="Only this repository (OWNER/NAME).")
    path_prefix: str | None = Field(None, max_length=1024, description="Only documents whose path starts so.")


@router.post("/search")
def search_documents(
    body: SearchBody,
    response: Response,
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Best chunk per document: path, title, heading, snippet, score, repository; and the latency.

    ``Server-Timing: search;dur=…`` is the whole search call in the server (what is beyond it is the API's).
    """
    filters = SearchFilters(repository=body.repository, path_prefix=body.path_prefix)
    started = time.perf_counter()
    try:
        result = filtered_search(runtime, body.query, principal.workspace_slug, top_k=body.top_k, filters=filters)
    except SearchError as error:
        raise ApiError(422, str(error)) from None
    response.headers["Server-Timing"] = f"search;dur={(time.perf_counter() - started) * 1000:.2f}"
    return {"results": [hit_dict(hit) for hit in result.results], "mode": result.mode, "latency_ms": result.latency_ms}

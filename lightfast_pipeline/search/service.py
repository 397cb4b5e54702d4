"""`POST /search` on the warm embedding service: the server half of ``search/served.py``.

The service process holds the model, LanceDB and the catalog's engine; it runs the same :func:`search` a CLI
process would and answers the JSON ``lightfast search --json`` prints (:func:`search_payload`). Searches and
embedding requests take turns (each uses every core).
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.hits import search_payload
from lightfast_pipeline.search.query import SearchError, search
from lightfast_pipeline.search.served import SEARCH_PATH, search_identity
from lightfast_pipeline.workspaces.workspace import WorkspaceError

ARGUMENTS = ("query", "workspace", "top_k", "per_document", "mode", "fusion", "repository", "path_prefix")
SHARED = ("database_url", "vector_backend", "lancedb_uri")


def serves(runtime: Runtime, client: dict[str, Any]) -> bool:
    """True when the client's catalog, store and model are this service's (a client configured with the
    local model is served by any embedder that answers under that model's name)."""
    own = search_identity(runtime.settings)
    if any(client.get(key) != own[key] for key in SHARED):
        return False
    if (client.get("embedder"), client.get("embedding_model")) == (own["embedder"], own["embedding_model"]):
        return True
    return client.get("embedder") == "local" and client.get("embedding_model") == runtime.embedder.model


def warm(runtime: Runtime) -> None:
    """Import and open what a search uses (LanceDB, the catalog) before the first request."""
    runtime.vector_store  # noqa: B018 - builds (and imports) the store
    with runtime.session():
        pass


def search_route(runtime: Runtime, one_at_a_time: threading.Lock) -> Route:
    """The ``POST /search`` route over ``runtime`` (its embedder is the service's model)."""

    def run(arguments: dict[str, Any]) -> dict[str, Any]:
        query, workspace = arguments["query"], arguments["workspace"]
        options = {name: arguments[name] for name in ARGUMENTS[2:]}
        with one_at_a_time:
            return search_payload(search(runtime, query, workspace, **options))

    async def endpoint(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            arguments, client = body["search"], body["settings"]
            if set(arguments) != set(ARGUMENTS) or not isinstance(client, dict):
                raise KeyError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": f'expected {{"search": {{{", ".join(ARGUMENTS)}}}, "settings"}}'}, 422)
        if not serves(runtime, client):
            return JSONResponse({"error": "this service serves another catalog, store or model"}, 409)
        try:
            return JSONResponse(await run_in_threadpool(run, arguments))
        except (SearchError, WorkspaceError) as error:
            return JSONResponse({"error": str(error)}, 400)

    return Route(SEARCH_PATH, endpoint, methods=["POST"])

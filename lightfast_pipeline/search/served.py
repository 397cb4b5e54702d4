"""`lightfast search` through the warm embedding service: the client half (light: settings and httpx only).

The service (``lightfast embedder serve``) has the model loaded and LanceDB and the catalog imported; a CLI
process that sends it the whole search imports neither (0.3 s instead of ~2.8 s of CPU). The service runs the
same :func:`~lightfast_pipeline.search.query.search` in its process (``search/service.py``) and answers the
JSON that ``lightfast search --json`` prints. It answers only for the client's catalog, LanceDB directory and
model; otherwise, or without a service, the CLI searches in its own process: same function, same output.
"""

from __future__ import annotations

from typing import Any

from lightfast_pipeline.settings import Settings

SEARCH_PATH = "/search"
TIMEOUT_SECONDS = 60.0


class SearchRefused(Exception):
    """The service ran the search and it failed for a reason the user must fix (the message says which)."""


def search_identity(settings: Settings) -> dict[str, str]:
    """What a served search must share with this process: catalog, vector store and embedding model."""
    return {
        "database_url": settings.database_url,
        "vector_backend": settings.vector_backend,
        "lancedb_uri": settings.lancedb_uri,
        "embedder": settings.embedder,
        "embedding_model": settings.embedding_model,
    }


def served_search(settings: Settings, request: dict[str, Any]) -> dict[str, Any] | None:
    """The search answered by the warm service, or None when no service answers it for these settings.

    ``request`` holds :func:`search`'s arguments (``query``, ``workspace``, ``top_k``, ``per_document``,
    ``mode``, ``fusion``, ``repository``, ``path_prefix``). Raises :class:`SearchRefused` with the service's
    message when the search itself is refused (unknown workspace, bad mode…).
    """
    # Only the embedded store is worth it (LanceDB's import is the cost); Cohere needs no local model.
    if settings.vector_backend != "lancedb" or settings.embedder == "cohere" or not settings.embedder_socket.exists():
        return None
    import httpx

    transport = httpx.HTTPTransport(uds=str(settings.embedder_socket))
    try:
        with httpx.Client(transport=transport, base_url="http://embedder", timeout=TIMEOUT_SECONDS) as client:
            response = client.post(SEARCH_PATH, json={"search": request, "settings": search_identity(settings)})
    except httpx.TransportError:
        return None  # no live service on the socket (a stale file, or it is starting or stopping)
    if response.status_code == 200:
        return response.json()
    if response.status_code == 400:
        raise SearchRefused(response.json()["error"])
    return None  # 404: an older service; 409: another catalog, store or model; 5xx: search here instead

"""The warm embedding service: one long-lived process holds the local model and embeds for every run.

Every Dagster run is a fresh process, and loading the local model there costs ~5 s of a webhook's
delivery → searchable budget. ``lightfast dev`` (or ``lightfast embedder serve``) starts this service next
to the daemon; run workers and ``lightfast search`` then send their texts over a Unix socket in the
Lightfast home (mode 0600, so only this user can use it) instead of loading the model themselves.

With a search runtime (``lightfast embedder serve`` gives it one) the service also answers ``POST /search``
(``search/service.py``): ``lightfast search`` then sends it the whole search and imports neither the model nor
LanceDB.

Wire format: ``POST /embed`` with ``{"texts": [...]}`` answers the vectors as little-endian float64, row
after row, with ``X-Embedding-Model`` and ``X-Embedding-Dimension`` headers (far smaller and faster
to parse than JSON floats, and bit-identical to the in-process vectors). ``GET /healthz`` answers the
model and its dimension. Requests are embedded one at a time: each one already uses every core.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lightfast_pipeline.embedders.base import Embedder, EmbeddingError
from lightfast_pipeline.system.processes import process_exists

if TYPE_CHECKING:
    from lightfast_pipeline.runtime import Runtime

log = logging.getLogger(__name__)
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]

MODEL_HEADER = "X-Embedding-Model"
DIMENSION_HEADER = "X-Embedding-Dimension"
MAX_TEXTS_PER_REQUEST = 1024


class EmbedderAlreadyServed(EmbeddingError):
    """Another live process already serves embeddings on this socket."""


def create_embedding_app(
    embedder: Embedder, lifespan: Lifespan | None = None, search_runtime: Runtime | None = None
) -> Starlette:
    """The ASGI app serving ``embedder``: ``POST /embed`` and ``GET /healthz``, and ``POST /search`` over
    ``search_runtime`` (whose embedder is ``embedder``) when it is given."""
    one_at_a_time = threading.Lock()
    identity = {MODEL_HEADER: embedder.model, DIMENSION_HEADER: str(embedder.dimension)}

    def embed(texts: list[str]) -> bytes:
        with one_at_a_time:
            vectors = embedder.embed_documents(texts)
        return np.asarray(vectors, dtype="<f8").reshape(len(texts), embedder.dimension).tobytes()

    async def embed_endpoint(request: Request) -> Response:
        try:
            body = await request.json()
            texts = body["texts"]
            if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'expected {"texts": [string, ...]}'}, status_code=400)
        if len(texts) > MAX_TEXTS_PER_REQUEST:
            return JSONResponse({"error": f"at most {MAX_TEXTS_PER_REQUEST} texts per request"}, status_code=413)
        try:
            payload = await run_in_threadpool(embed, texts)
        except EmbeddingError as error:
            return JSONResponse({"error": str(error)}, status_code=500, headers=identity)
        return Response(payload, media_type="application/octet-stream", headers=identity)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"model": embedder.model, "dimension": embedder.dimension}, headers=identity)

    routes = [Route("/embed", embed_endpoint, methods=["POST"]), Route("/healthz", healthz)]
    if search_runtime is not None:
        from lightfast_pipeline.search.service import search_route

        routes.append(search_route(search_runtime, one_at_a_time))
    return Starlette(routes=routes, lifespan=lifespan)


def bind_private_socket(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` that only this user can reach.

    A socket file left by a dead server is replaced; a live one raises :class:`EmbedderAlreadyServed`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: its server is gone
        else:
            raise EmbedderAlreadyServed(f"embeddings are already served on {path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # created 0600: no window in which another user could connect
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(64)
    return listener


def serve_embeddings(
    embedder: Embedder, path: Path, exit_with_pid: int | None = None, search_runtime: Runtime | None = None
) -> None:
    """Load the model, then serve it on the Unix socket ``path`` until interrupted (or ``exit_with_pid`` exits);
    with ``search_runtime``, serve searches over it too.

    The socket appears only once the model is loaded (and the search's store opened), so a client never waits
    on a half-started service.
    """
    embedder.warm_up()
    if search_runtime is not None:
        from lightfast_pipeline.search.service import warm

        warm(search_runtime)
    listener = bind_private_socket(path)

    @contextlib.asynccontextmanager
    async def remove_socket_on_shutdown(_: Starlette) -> AsyncIterator[None]:
        # Here, not after server.run(): uvicorn re-raises SIGTERM once it has shut down, ending the process.
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    app = create_embedding_app(embedder, remove_socket_on_shutdown, search_runtime)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    if exit_with_pid is not None:
        threading.Thread(target=_stop_when_gone, args=(server, exit_with_pid), daemon=True).start()
    log.info("serving %s embeddings on %s", embedder.model, path)
    try:
        server.run(sockets=[listener])
    finally:
        listener.close()


def _stop_when_gone(server: uvicorn.Server, pid: int) -> None:
    while process_exists(pid):
        time.sleep(1)
    log.info("process %d exited: stopping the embedding service", pid)
    server.should_exit = True

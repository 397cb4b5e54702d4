"""Build an embedder from its spec: ``local``, ``cohere`` or a plug-in ``module.path:Attr``."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from lightfast_pipeline.embedders.base import Embedder, EmbeddingError
from lightfast_pipeline.settings import CohereSettings, load_cohere_settings

_cache: dict[tuple[str, str, Path | None, CohereSettings | None], Embedder] = {}
_lock = threading.Lock()


def build_embedder(
    spec: str, model: str, service_socket: Path | None = None, *, cohere: CohereSettings | None = None
) -> Embedder:
    """The process-wide embedder for ``(spec, model)`` (built once: loading a model costs seconds).

    ``local`` → :class:`SentenceTransformerEmbedder` (``model``); ``cohere`` → :class:`CohereEmbedder` from
    ``cohere`` (the Dagster resource's) or else ``COHERE_API_KEY`` / ``COHERE_BASE_URL`` /
    ``LIGHTFAST_COHERE_MODEL`` (the CLI's); ``pkg.module:Attr`` → ``Attr()``.
    With ``service_socket``, the in-process models (local and plug-ins) are used through the warm embedding
    service on that socket whenever one serves them (:class:`ServedEmbedder`).
    """
    cohere = cohere if spec == "cohere" else None
    key = (spec, model, service_socket, cohere)
    with _lock:
        if key not in _cache:
            _cache[key] = _create(spec, model, service_socket, cohere)
        return _cache[key]


def _create(spec: str, model: str, service_socket: Path | None, cohere: CohereSettings | None) -> Embedder:
    if spec == "cohere":
        from lightfast_pipeline.embedders.cohere import CohereEmbedder

        settings = cohere or load_cohere_settings()
        if not settings.api_key:
            raise EmbeddingError("embedder 'cohere' needs COHERE_API_KEY in the environment")
        return CohereEmbedder(settings.api_key, model=settings.model, base_url=settings.base_url)
    if spec == "local":
        from lightfast_pipeline.embedders.local import SentenceTransformerEmbedder

        in_process: Embedder = SentenceTransformerEmbedder(model)
    elif ":" in spec:
        in_process = _plugin(spec)
    else:
        raise EmbeddingError(f"unknown embedder {spec!r}: use 'local', 'cohere' or 'package.module:Factory'")
    if service_socket is None:
        return in_process
    from lightfast_pipeline.embedders.served import ServedEmbedder

    return ServedEmbedder(in_process, service_socket)


def _plugin(spec: str) -> Embedder:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise EmbeddingError(f"cannot import embedder plug-in {spec!r}: {exc}") from exc
    try:
        embedder = factory()
    except Exception as exc:
        raise EmbeddingError(f"embedder plug-in {spec!r} failed to start: {exc}") from exc
    if not isinstance(embedder, Embedder):
        raise EmbeddingError(f"embedder plug-in {spec!r} does not implement the Embedder interface")
    return embedder

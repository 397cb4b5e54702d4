"""The vector store interface: namespaced vectors keyed by deterministic ids."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

FILTERABLE_FIELDS = ("repository", "document")
"""Metadata keys every backend stores as filterable fields (``where`` accepts only these)."""


class VectorStoreError(Exception):
    """The vector store failed (the message is user-facing and contains no secret)."""


def check_filter(where: Mapping[str, str] | None) -> None:
    """Raise :class:`VectorStoreError` if ``where`` names a field that cannot be filtered on."""
    unknown = set(where or {}) - set(FILTERABLE_FIELDS)
    if unknown:
        raise VectorStoreError(f"cannot filter on {sorted(unknown)}: filterable fields are {FILTERABLE_FIELDS}")


@dataclass(frozen=True)
class VectorRecord:
    """A vector and its small metadata (repository uid, document uid; display data lives in the catalog).

    ``metadata["repository"]`` and ``metadata["document"]`` are filterable; other keys (JSON values) are
    stored and returned but cannot be filtered on.
    """

    id: str
    vector: Sequence[float]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorMatch:
    """One search hit: cosine similarity ``score`` (higher is closer) and the record's metadata."""

    id: str
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """A store of vectors split into namespaces (one per workspace store)."""

    backend: str
    consistency_seconds: float  # writes show in reads within this many seconds (0: at once)

    def ensure_namespace(self, namespace: str, dimension: int) -> None:
        """Create the namespace if missing (idempotent)."""
        ...

    def fixed_dimension(self) -> int | None:
        """The one dimension every namespace must hold (a Pinecone index), or None when each namespace has its own."""
        ...

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id. Safe when several processes write at once."""
        ...

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete records by id; unknown ids are ignored."""
        ...

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Vectors of the ids that exist."""
        ...

    def list_ids(self, namespace: str, prefix: str = "") -> Iterator[str]:
        """Every id in the namespace starting with ``prefix``."""
        ...

    def query(
        self,
        namespace: str,
        vector: Sequence[float],
        top_k: int,
        where: Mapping[str, str] | None = None,
    ) -> list[VectorMatch]:
        """Nearest records by cosine similarity (score: higher is closer), filtered on FILTERABLE_FIELDS."""
        ...

    def count(self, namespace: str) -> int:
        """Number of vectors in the namespace (0 if it does not exist)."""
        ...

    def drop_namespace(self, namespace: str) -> None:
        """Remove the namespace and everything in it."""
        ...

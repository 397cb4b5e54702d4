"""The vector store interface: namespaced vectors keyed by deterministic ids."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class VectorStoreError(Exception):
    """The vector store failed (the message is user-facing and contains no secret)."""


@dataclass(frozen=True)
class VectorRecord:
    """A vector and its small metadata (repository uid, document uid; display data lives in the catalog)."""

    id: str
    vector: Sequence[float]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorMatch:
    id: str
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """A store of vectors split into namespaces (one per workspace store)."""

    backend: str

    def ensure_namespace(self, namespace: str, dimension: int) -> None:
        """Create the namespace if missing (idempotent)."""
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
        """Nearest records by cosine similarity (score: higher is closer), optionally filtered by metadata."""
        ...

    def drop_namespace(self, namespace: str) -> None:
        """Remove the namespace and everything in it."""
        ...

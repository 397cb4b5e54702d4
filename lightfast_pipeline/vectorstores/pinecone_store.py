"""Pinecone (serverless, dense, cosine index) through the official ``pinecone`` 10 client.

Workspace-store namespaces are Pinecone namespaces of one index addressed by its data-plane host. Upserts
are split so each request stays under Pinecone's 2 MB body limit and 1,000 vectors (at 1,024 dimensions
that is ~100 vectors per request); the SDK does not raise when a batch fails, so its ``has_errors`` /
``failed_items`` are checked, failed items retried once, and anything still failing raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from lightfast_pipeline.vectorstores.base import (
    VectorMatch,
    VectorRecord,
    VectorStoreError,
    check_filter,
)

T = TypeVar("T")

REQUEST_LIMIT_BYTES = 2 * 1024 * 1024
MAX_VECTORS_PER_UPSERT = 1_000
DELETE_BATCH = 1_000
FETCH_BATCH = 100
SIZE_MARGIN = 0.85
CONSISTENCY_SECONDS = 30.0  # "a slight delay before upserted records are available" (Pinecone's known limitations)


class PineconeVectorStore:
    """Namespaced vectors in one Pinecone index."""

    backend = "pinecone"

    def __init__(
        self,
        api_key: str,
        index_host: str,
        *,
        request_limit_bytes: int = REQUEST_LIMIT_BYTES,
        max_concurrency: int = 4,
        timeout: float = 30.0,
        consistency_seconds: float = CONSISTENCY_SECONDS,
    ) -> None:
        """``consistency_seconds``: how long reads that correctness depends on wait for writes to show
        (``vectorstores/consistency.py``)."""
        if not api_key or not index_host:
            raise VectorStoreError("the Pinecone backend needs PINECONE_API_KEY and PINECONE_INDEX_HOST")
        from pinecone import Pinecone

        self._api_key = api_key
        self._request_limit = request_limit_bytes
        self._max_concurrency = max_concurrency
        self._timeout = timeout
        self.consistency_seconds = consistency_seconds
        self._index = self._call(lambda: Pinecone(api_key=api_key).Index(host=index_host))
        self._dimension: int | None = None

    def _call(self, operation: Callable[[], T], *, missing_ok: bool = False, default: Any = None) -> T:
        """Run an SDK call; wrap its errors (without the key); a 404 gives ``default`` if ``missing_ok``."""
        from pinecone.errors import NotFoundError, PineconeError

        try:
            return operation()
        except NotFoundError:
            if missing_ok:
                return default
            raise VectorStoreError("Pinecone: not found") from None
        except PineconeError as exc:
            raise VectorStoreError(f"Pinecone request failed: {exc}".replace(self._api_key, "***")) from None

    def _index_dimension(self) -> int | None:
        if self._dimension is None:
            stats = self._call(lambda: self._index.describe_index_stats(timeout=self._timeout))
            self._dimension = stats.dimension
        return self._dimension

    def fixed_dimension(self) -> int | None:
        """The index's dimension: every namespace of a Pinecone index holds vectors of that size."""
        return self._index_dimension()

    def ensure_namespace(self, namespace: str, dimension: int) -> None:
        """Pinecone creates namespaces on first write; check the index's dimension matches."""
        _check_namespace(namespace)
        existing = self._index_dimension()
        if existing is not None and existing != dimension:
            raise VectorStoreError(f"the Pinecone index holds {existing}-dimensional vectors, not {dimension}")

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace by id in requests under the 2 MB limit; raise if any vector did not land."""
        _check_namespace(namespace)
        if not records:
            return
        items = [_item(record) for record in {r.id: r for r in records}.values()]
        largest = max(len(json.dumps(item, separators=(",", ":"))) for item in items)
        per_request = int(self._request_limit * SIZE_MARGIN) // (largest + 1)
        if per_request < 1:
            raise VectorStoreError(f"one vector with its metadata is larger than {self._request_limit} bytes")
        batch_size = min(MAX_VECTORS_PER_UPSERT, per_request)
        pending: list[Any] = items
        for attempt in range(2):
            response = self._call(
                lambda pending=pending: self._index.upsert(
                    vectors=pending,
                    namespace=namespace,
                    batch_size=batch_size,
                    show_progress=False,
                    max_concurrency=self._max_concurrency,
                    timeout=self._timeout,
                )
            )
            if not response.has_errors:
                return
            if attempt == 1:
                first = response.errors[0].error_message if response.errors else "unknown error"
                raise VectorStoreError(
                    f"Pinecone upsert: {response.failed_item_count} of {len(items)} vectors failed ({first})"
                )
            pending = list(response.failed_items)

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete by id, 1,000 per request; a namespace that never existed (404) is fine."""
        _check_namespace(namespace)
        unique = sorted(set(ids))
        for start in range(0, len(unique), DELETE_BATCH):
            batch = unique[start : start + DELETE_BATCH]
            self._call(
                lambda batch=batch: self._index.delete(ids=batch, namespace=namespace, timeout=self._timeout),
                missing_ok=True,
            )

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Vectors of the ids that exist."""
        _check_namespace(namespace)
        found: dict[str, list[float]] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), FETCH_BATCH):
            batch = unique[start : start + FETCH_BATCH]
            response = self._call(
                lambda batch=batch: self._index.fetch(ids=batch, namespace=namespace, timeout=self._timeout),
                missing_ok=True,
            )
            if response is not None:
                found.update({vid: list(vector.values) for vid, vector in response.vectors.items()})
        return found

    def list_ids(self, namespace: str, prefix: str = "") -> Iterator[str]:
        """Every id starting with ``prefix``, following pagination tokens."""
        _check_namespace(namespace)
        pages = self._index.list(prefix=prefix or None, namespace=namespace, timeout=self._timeout)
        iterator = iter(pages)
        while True:
            page = self._call(lambda: next(iterator, None), missing_ok=True)
            if page is None:
                return
            yield from (item.id for item in page.vectors if item.id is not None)

    def query(
        self,
        namespace: str,
        vector: Sequence[float],
        top_k: int,
        where: Mapping[str, str] | None = None,
    ) -> list[VectorMatch]:
        """Nearest vectors by the index's cosine metric, filtered with ``$eq`` on FILTERABLE_FIELDS."""
        _check_namespace(namespace)
        check_filter(where)
        if top_k <= 0:
            return []
        flt = {field: {"$eq": str(value)} for field, value in where.items()} if where else None
        response = self._call(
            lambda: self._index.query(
                vector=list(vector),
                top_k=top_k,
                namespace=namespace,
                filter=flt,
                include_metadata=True,
                timeout=self._timeout,
            ),
            missing_ok=True,
        )
        if response is None:
            return []
        return [VectorMatch(id=m.id, score=float(m.score), metadata=dict(m.metadata or {})) for m in response.matches]

    def count(self, namespace: str) -> int:
        """Vectors in the namespace according to ``describe_index_stats`` (eventually consistent)."""
        _check_namespace(namespace)
        stats = self._call(lambda: self._index.describe_index_stats(timeout=self._timeout))
        summary = stats.namespaces.get(namespace)
        return 0 if summary is None else int(summary.vector_count)

    def drop_namespace(self, namespace: str) -> None:
        """Delete every vector of the namespace (no error if it does not exist)."""
        _check_namespace(namespace)
        self._call(
            lambda: self._index.delete(delete_all=True, namespace=namespace, timeout=self._timeout),
            missing_ok=True,
        )


def _check_namespace(namespace: str) -> None:
    if not namespace:
        raise VectorStoreError("a vector namespace must not be empty")


def _item(record: VectorRecord) -> dict[str, Any]:
    metadata = {key: value for key, value in record.metadata.items() if value is not None}
    item: dict[str, Any] = {"id": record.id, "values": [float(v) for v in record.vector]}
    if metadata:
        item["metadata"] = metadata
    return item

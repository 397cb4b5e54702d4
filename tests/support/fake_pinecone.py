"""A local Pinecone data plane speaking the REST wire format the ``pinecone`` 10 client uses.

One dense cosine index of a fixed dimension: ``POST /vectors/upsert``, ``POST /query``,
``GET /vectors/fetch``, ``GET /vectors/list`` (paginated), ``POST /vectors/delete``,
``POST /describe_index_stats``. JSON is camelCase, the ``Api-Key`` header is checked (401), bodies over
2 MB answer 413, more than 1,000 vectors or a wrong dimension 400, and deleting in a namespace that does not
exist 404, as the serverless service does.

Like the serverless service it can be *eventually consistent* and *unreliable*: with :attr:`FakePinecone.lag_seconds`
set, upserts and deletes are acknowledged at once but seen by query, fetch, list and stats only that long
after; :meth:`FakePinecone.fail_next` answers the next requests with 429 or 5xx (with or without
``Retry-After``), the way a throttled or overloaded index does.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.local_http import LocalJSONServer, Request, Response

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_UPSERT_VECTORS = 1_000
LIST_PAGE = 100


def _error(status: int, code: int, message: str) -> Response:
    return Response(status, {"code": code, "message": message, "details": []})


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _matches(metadata: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, condition in flt.items():
        if key == "$and":
            if not all(_matches(metadata, part) for part in condition):
                return False
            continue
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        value = metadata.get(key)
        for op, expected in ops.items():
            if op == "$eq" and value != expected:
                return False
            if op == "$ne" and value == expected:
                return False
            if op == "$in" and value not in expected:
                return False
            if op not in ("$eq", "$ne", "$in"):
                raise ValueError(f"unsupported filter operator {op}")
    return True


class FakePinecone:
    """State and routes of the fake index; :attr:`server` is the running HTTP server."""

    def __init__(self, api_key: str, dimension: int) -> None:
        self.api_key = api_key
        self.dimension = dimension
        self.namespaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = {}
        self.fail_upserts = 0
        self.lag_seconds = 0.0
        self._failures: deque[tuple[int, str | None]] = deque()
        self._pending: deque[tuple[float, Callable[[], None]]] = deque()
        self._lock = threading.Lock()
        self.server = LocalJSONServer(self.handle)

    @property
    def url(self) -> str:
        """The index host to give ``Pinecone(...).Index(host=...)``."""
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        """Every request received, in order."""
        return self.server.requests

    def close(self) -> None:
        """Stop the server."""
        self.server.close()

    def fail_next(self, count: int, status: int = 429, retry_after: str | None = None) -> None:
        """Answer the next ``count`` authenticated requests with ``status`` (``Retry-After`` when given)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def settle(self) -> None:
        """Make every acknowledged write visible now (as if the lag had passed)."""
        with self._lock:
            while self._pending:
                self._pending.popleft()[1]()

    def _write(self, apply: Callable[[], None]) -> None:
        """Apply a write now, or after the lag when the index is eventually consistent."""
        if self.lag_seconds > 0:
            self._pending.append((time.monotonic() + self.lag_seconds, apply))
        else:
            apply()

    def _apply_due_writes(self) -> None:
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            self._pending.popleft()[1]()

    def _injected_failure(self) -> Response | None:
        if not self._failures:
            return None
        status, retry_after = self._failures.popleft()
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        message = "Too Many Requests" if status == 429 else "Service Unavailable"
        return Response(status, {"code": 8 if status == 429 else 14, "message": message, "details": []}, headers)

    def handle(self, request: Request) -> Response:
        """Route one request."""
        if request.headers.get("api-key") != self.api_key:
            return Response(401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401})
        if len(request.body) > MAX_BODY_BYTES:
            size = len(request.body) / 1_000_000
            return _error(413, 3, f"Request size {size:.1f}MB exceeds the maximum supported size of 2MB")
        routes = {
            ("POST", "/vectors/upsert"): self._upsert,
            ("POST", "/query"): self._query,
            ("GET", "/vectors/fetch"): self._fetch,
            ("GET", "/vectors/list"): self._list,
            ("POST", "/vectors/delete"): self._delete,
            ("POST", "/describe_index_stats"): self._stats,
        }
        route = routes.get((request.method, request.path))
        if route is None:
            return _error(404, 5, f"Not found: {request.method} {request.path}")
        with self._lock:
            failure = self._injected_failure()
            if failure is not None:
                return failure
            self._apply_due_writes()
            return route(request)

    def _upsert(self, request: Request) -> Response:
        body = request.json()
        vectors = body.get("vectors", [])
        if self.fail_upserts > 0:
            self.fail_upserts -= 1
            return _error(400, 3, "Simulated failure")
        if len(vectors) > MAX_UPSERT_VECTORS:
            return _error(400, 3, f"Vector count {len(vectors)} exceeds the limit of {MAX_UPSERT_VECTORS}")
        for vector in vectors:
            if len(vector.get("values", [])) != self.dimension:
                return _error(
                    400,
                    3,
                    f"Vector dimension {len(vector.get('values', []))} does not match the dimension "
                    f"of the index {self.dimension}",
                )
        name = body.get("namespace", "")

        def apply() -> None:
            namespace = self.namespaces.setdefault(name, {})
            for vector in vectors:
                namespace[vector["id"]] = (list(vector["values"]), dict(vector.get("metadata") or {}))

        self._write(apply)
        return Response(200, {"upsertedCount": len(vectors)})

    def _query(self, request: Request) -> Response:
        body = request.json()
        vector = body.get("vector")
        if vector is None or len(vector) != self.dimension:
            return _error(400, 3, "Query vector missing or of the wrong dimension")
        namespace = body.get("namespace", "")
        rows = self.namespaces.get(namespace, {})
        try:
            candidates = [
                (vid, values, metadata)
                for vid, (values, metadata) in rows.items()
                if _matches(metadata, body.get("filter") or {})
            ]
        except ValueError as exc:
            return _error(400, 3, str(exc))
        scored = sorted(((_cosine(vector, v), vid, m) for vid, v, m in candidates), key=lambda t: (-t[0], t[1]))
        matches = []
        for score, vid, metadata in scored[: int(body["topK"])]:
            match: dict[str, Any] = {"id": vid, "score": score, "values": []}
            if body.get("includeValues"):
                match["values"] = rows[vid][0]
            if body.get("includeMetadata") and metadata:
                match["metadata"] = metadata
            matches.append(match)
        return Response(200, {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}})

    def _fetch(self, request: Request) -> Response:
        namespace = request.query.get("namespace", [""])[0]
        rows = self.namespaces.get(namespace, {})
        vectors = {
            vid: {"id": vid, "values": rows[vid][0], **({"metadata": rows[vid][1]} if rows[vid][1] else {})}
            for vid in request.query.get("ids", [])
            if vid in rows
        }
        return Response(200, {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}})

    def _list(self, request: Request) -> Response:
        namespace = request.query.get("namespace", [""])[0]
        prefix = request.query.get("prefix", [""])[0]
        limit = int(request.query.get("limit", [LIST_PAGE])[0])
        after = request.query.get("paginationToken", [""])[0]
        ids = sorted(vid for vid in self.namespaces.get(namespace, {}) if vid.startswith(prefix) and vid > after)
        page = ids[:limit]
        body: dict[str, Any] = {
            "vectors": [{"id": vid} for vid in page],
            "namespace": namespace,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            body["pagination"] = {"next": page[-1]}
        return Response(200, body)

    def _delete(self, request: Request) -> Response:
        body = request.json()
        namespace = body.get("namespace", "")
        if namespace not in self.namespaces and not self._pending:
            return _error(404, 5, "Namespace not found")

        def apply() -> None:
            if body.get("deleteAll"):
                self.namespaces.pop(namespace, None)
            else:
                for vid in body.get("ids", []):
                    self.namespaces.get(namespace, {}).pop(vid, None)

        self._write(apply)
        return Response(200, {})

    def _stats(self, request: Request) -> Response:
        namespaces = {name: {"vectorCount": len(rows)} for name, rows in self.namespaces.items() if rows}
        return Response(
            200,
            {
                "namespaces": namespaces,
                "dimension": self.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": sum(n["vectorCount"] for n in namespaces.values()),
                "metric": "cosine",
                "vectorType": "dense",
            },
        )

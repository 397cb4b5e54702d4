"""A local Cohere ``POST /v2/embed`` speaking the wire format of ``cohere.ClientV2`` (cohere 7).

Bearer auth is checked (401), more than 96 texts is a 400, vectors are deterministic (seeded by the text
and ``input_type``) and unit-length, and :attr:`FakeCohere.rate_limited` answers that many requests with
429 + ``Retry-After`` first; :meth:`FakeCohere.fail_next` answers the next requests with any status (429 without
``Retry-After``, 500, 503), with a JSON or a plain-text body as an overloaded proxy would.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections import deque

from tests.support.local_http import LocalJSONServer, Request, Response

MAX_TEXTS = 96


def fake_vector(text: str, input_type: str, dimension: int) -> list[float]:
    """The deterministic unit vector the fake returns for ``text``."""
    seed = int.from_bytes(hashlib.sha256(f"{input_type}\0{text}".encode()).digest()[:8], "little")
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


class FakeCohere:
    """State and route of the fake embed endpoint; :attr:`embed_calls`: the texts of each accepted call."""

    def __init__(self, api_key: str, dimension: int = 1024) -> None:
        self.api_key = api_key
        self.dimension = dimension
        self.rate_limited = 0
        self.retry_after = "1"
        self.embed_calls: list[list[str]] = []
        self._failures: deque[tuple[int, str | None, bool]] = deque()
        self.server = LocalJSONServer(self.handle)

    @property
    def url(self) -> str:
        """Base URL to give ``ClientV2(base_url=...)``."""
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        """Every request received, in order."""
        return self.server.requests

    def close(self) -> None:
        """Stop the server."""
        self.server.close()

    def fail_next(self, count: int, status: int = 503, retry_after: str | None = None, *, text: bool = False) -> None:
        """Answer the next ``count`` embed requests with ``status`` (a plain-text body when ``text``)."""
        self._failures.extend([(status, retry_after, text)] * count)

    def handle(self, request: Request) -> Response:
        """Route one request."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Response(401, {"id": str(uuid.uuid4()), "message": "invalid api token"})
        if (request.method, request.path) != ("POST", "/v2/embed"):
            return Response(404, {"id": str(uuid.uuid4()), "message": "not found"})
        if self._failures:
            status, retry_after, text = self._failures.popleft()
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            body = "upstream connect error" if text else {"id": str(uuid.uuid4()), "message": "server overloaded"}
            return Response(status, body, headers=headers)
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return Response(
                429,
                {"id": str(uuid.uuid4()), "message": "You are using a Trial key, which is limited"},
                headers={"Retry-After": self.retry_after},
            )
        body = request.json()
        texts = body.get("texts") or []
        if len(texts) > MAX_TEXTS:
            return Response(
                400,
                {
                    "id": str(uuid.uuid4()),
                    "message": f"invalid request: texts must have at most {MAX_TEXTS} items",
                },
            )
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
            return Response(400, {"id": str(uuid.uuid4()), "message": "invalid request: input_type"})
        self.embed_calls.append(list(texts))
        return Response(
            200,
            {
                "id": str(uuid.uuid4()),
                "embeddings": {"float": [fake_vector(t, body["input_type"], self.dimension) for t in texts]},
                "texts": texts,
                "meta": {
                    "api_version": {"version": "2"},
                    "billed_units": {"input_tokens": sum(len(t.split()) for t in texts)},
                },
                "response_type": "embeddings_by_type",
            },
        )

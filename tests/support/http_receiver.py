"""A Slack-style incoming-webhook receiver on 127.0.0.1 that can be told to fail, then recover."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.local_http import LocalJSONServer, Request, Response


class WebhookReceiver:
    """Answers each POST with the next scripted status (200 once the script is used up) and keeps the
    JSON bodies of the requests it accepted."""

    def __init__(self) -> None:
        self._script: deque[Response] = deque()
        self._lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self._server = LocalJSONServer(self._handle)

    @property
    def url(self) -> str:
        """The webhook URL (with a token-like path, as Slack's are)."""
        return f"{self._server.url}/services/T000/B000/secret-token"

    @property
    def requests(self) -> list[Request]:
        """Every request received, accepted or not."""
        return self._server.requests

    def fail_next(self, count: int, status: int = 503, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``count`` requests with ``status``."""
        with self._lock:
            self._script.extend(Response(status, {"error": "scripted"}, headers or {}) for _ in range(count))

    def _handle(self, request: Request) -> Response:
        with self._lock:
            response = self._script.popleft() if self._script else Response(200, "ok")
            if response.status == 200:
                self.accepted.append(request.json())
        return response

    def close(self) -> None:
        """Stop serving."""
        self._server.close()


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running receiver, closed afterwards."""
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()

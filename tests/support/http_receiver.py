"""A Slack-style incoming-webhook receiver on 127.0.0.1 that can be told to fail, then recover.

Like Slack, it refuses a message whose blocks break Block Kit's limits (HTTP 400 ``invalid_blocks``): at most
50 blocks; a header's plain text at most 150 characters; a section's text at most 3,000, its fields at most 10
of at most 2,000 each; a context at most 10 elements; an actions block at most 25 elements, a button's text at
most 75 and its URL at most 3,000 characters (Slack's Block Kit reference).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.local_http import LocalJSONServer, Request, Response

MAX_BLOCKS = 50
HEADER_TEXT = 150
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_URL = 3000


def _too_long(where: str, text: Any, limit: int) -> list[str]:
    return [f"{where}: {len(text)} characters (at most {limit})"] if len(str(text)) > limit else []


def _section_errors(where: str, block: dict[str, Any]) -> list[str]:
    fields = block.get("fields") or []
    if "text" not in block and not fields:
        return [f"{where}: a section needs text or fields"]
    errors = _too_long(f"{where}.text", (block.get("text") or {}).get("text", ""), SECTION_TEXT)
    if len(fields) > SECTION_FIELDS:
        errors.append(f"{where}.fields: {len(fields)} (at most {SECTION_FIELDS})")
    for n, field in enumerate(fields):
        errors += _too_long(f"{where}.fields[{n}]", field.get("text", ""), FIELD_TEXT)
    return errors


def _actions_errors(where: str, block: dict[str, Any]) -> list[str]:
    elements = block.get("elements") or []
    errors = (
        [f"{where}.elements: {len(elements)} (at most {ACTIONS_ELEMENTS})"] if len(elements) > ACTIONS_ELEMENTS else []
    )
    for n, element in enumerate(elements):
        errors += _too_long(f"{where}.elements[{n}].text", element.get("text", {}).get("text", ""), BUTTON_TEXT)
        errors += _too_long(f"{where}.elements[{n}].url", element.get("url", ""), BUTTON_URL)
    return errors


def block_kit_errors(message: dict[str, Any]) -> list[str]:
    """Every Block Kit limit the message's blocks break (empty: Slack would post it)."""
    blocks = message.get("blocks") or []
    errors = [f"blocks: {len(blocks)} (at most {MAX_BLOCKS})"] if len(blocks) > MAX_BLOCKS else []
    for n, block in enumerate(blocks):
        where = f"blocks[{n}]"
        kind = block.get("type")
        if kind == "header":
            errors += _too_long(f"{where}.text", block.get("text", {}).get("text", ""), HEADER_TEXT)
        elif kind == "section":
            errors += _section_errors(where, block)
        elif kind == "context" and len(block.get("elements") or []) > CONTEXT_ELEMENTS:
            errors.append(f"{where}.elements: {len(block['elements'])} (at most {CONTEXT_ELEMENTS})")
        elif kind == "actions":
            errors += _actions_errors(where, block)
    return errors


class WebhookReceiver:
    """Answers each POST with the next scripted status (200 once the script is used up; 400 ``invalid_blocks``
    for blocks over Block Kit's limits) and keeps the JSON bodies it accepted and the errors of those it
    refused."""

    def __init__(self) -> None:
        self._script: deque[Response] = deque()
        self._lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[list[str]] = []
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
            if response.status != 200:
                return response
            errors = block_kit_errors(request.json())
            if errors:
                self.refused.append(errors)
                return Response(400, "invalid_blocks")
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

"""Serving an ASGI app with uvicorn, with the one timeout uvicorn lacks: a request's head must arrive in time.

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends half a request line
(or headers that never end) holds it forever; a few thousand such clients exhaust the server. The protocol below
closes a connection on which no complete request head arrived within ``HEAD_TIMEOUT_SECONDS`` of it opening or of
its last response. Slow bodies are the application's to time out (``webhooks/app.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_SECONDS = 10.0


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head does not arrive in time."""

    head_timeout: float = HEAD_TIMEOUT_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the connection and the clock for its first request head."""
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        """Finish the response and start the clock for the next request head."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the clock with the connection."""
        self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        waiting_after = self.cycle
        deadline = getattr(self, "_head_deadline", None)
        if deadline is not None:
            deadline.cancel()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._close_without_head, waiting_after)

    def _close_without_head(self, waiting_after: Any) -> None:
        if self.cycle is waiting_after and not self.transport.is_closing():  # no request started since arming
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def serve(app: Any, host: str, port: int, *, head_timeout: float = HEAD_TIMEOUT_SECONDS, **options: Any) -> None:
    """Run ``app`` with uvicorn on ``host:port``, closing connections whose request head takes over ``head_timeout``."""
    import uvicorn

    protocol = type("HeadTimeoutProtocol", (HeadTimeoutH11Protocol,), {"head_timeout": head_timeout})
    uvicorn.run(app, host=host, port=port, http=protocol, **options)

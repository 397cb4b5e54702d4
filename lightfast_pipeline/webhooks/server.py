"""Serving an ASGI app with uvicorn, with the one timeout uvicorn lacks: a request's head must arrive in time.

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends half a request line
(or headers that never end) holds it forever; a few thousand such clients exhaust the server. The protocol below
closes a connection on which no complete request head arrived within ``HEAD_TIMEOUT_SECONDS`` of it opening or of
its last response. Slow bodies are the application's to time out (``webhooks/app.py``).

The timeout is added to uvicorn's own choice of HTTP protocol (``AutoHTTPProtocol``): httptools' C parser when it
is installed, h11 otherwise. Forcing h11 cost the receiver ~0.3 ms of CPU per request (README, "CPU per
acknowledged push").
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

HEAD_TIMEOUT_SECONDS = 10.0


class HeadTimeoutMixin:
    """Closes connections whose request head does not arrive in time; mixed into a uvicorn HTTP protocol."""

    head_timeout: float = HEAD_TIMEOUT_SECONDS
    # Set by the uvicorn protocol this is mixed into (h11 and httptools alike): the current request's cycle
    # (created once a request head is complete), the connection's transport and the loop.
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.Transport) -> None:
        """Start the connection and the clock for its first request head."""
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        """Finish the response and start the clock for the next request head."""
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the clock with the connection."""
        self._head_deadline.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_head_deadline(self) -> None:
        waiting_after = self.cycle
        deadline = getattr(self, "_head_deadline", None)
        if deadline is not None:
            deadline.cancel()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._close_without_head, waiting_after)

    def _close_without_head(self, waiting_after: Any) -> None:
        if self.cycle is waiting_after:  # no request started since arming
            self.timeout_keep_alive_handler()  # type: ignore[attr-defined]  # uvicorn's close of an idle connection


def head_timeout_protocol(head_timeout: float, base: type[asyncio.Protocol] = AutoHTTPProtocol) -> type:
    """The uvicorn HTTP protocol ``base`` closing connections whose request head takes over ``head_timeout`` s."""
    return type(f"HeadTimeout{base.__name__}", (HeadTimeoutMixin, base), {"head_timeout": head_timeout})


def serve(app: Any, host: str, port: int, *, head_timeout: float = HEAD_TIMEOUT_SECONDS, **options: Any) -> None:
    """Run ``app`` with uvicorn on ``host:port``, closing connections whose request head takes over ``head_timeout``."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, http=head_timeout_protocol(head_timeout), **options)

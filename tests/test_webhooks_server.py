"""Serving the receiver: the request-head timeout on both of uvicorn's HTTP protocols, httptools when installed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.webhooks import create_app
from lightfast_pipeline.webhooks.server import head_timeout_protocol
from tests.support.api_server import free_port

HEAD_TIMEOUT = 0.5


@pytest.fixture(params=[H11Protocol, HttpToolsProtocol], ids=["h11", "httptools"])
def served(request: pytest.FixtureRequest, lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The receiver served in a thread with the head timeout on one HTTP protocol; yields its port."""
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s")
    port = free_port()
    protocol = head_timeout_protocol(HEAD_TIMEOUT, request.param)
    config = uvicorn.Config(create_app(Runtime()), port=port, http=protocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_connections_without_a_request_head_in_time_are_closed(served: int) -> None:
    head_only = _connect(served)
    head_only.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    slow_head = _connect(served)
    slow_head.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    time.sleep(HEAD_TIMEOUT / 2)
    slow_head.sendall(b"Host: x\r\n\r\n")  # complete within the timeout: answered, then kept alive
    assert b"200 OK" in slow_head.recv(4096)
    assert head_only.recv(1024) == b""  # closed by the server
    assert slow_head.recv(1024) == b""  # no next request head within the timeout: closed as well
    assert time.monotonic() - started < 3  # well before uvicorn's own keep-alive timeout (5 s)
    healthy = _connect(served)
    healthy.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"200 OK" in healthy.recv(4096)


def test_the_default_protocol_is_uvicorns_choice_httptools_when_installed() -> None:
    pytest.importorskip("httptools")
    assert issubclass(head_timeout_protocol(1.0), HttpToolsProtocol)

"""Hostile requests against the real `lightfast webhooks serve` (a subprocess): hypothesis-generated methods,
paths, headers, signatures and bodies, and raw bytes on the socket → never a 5xx, never a stored delivery that
was not correctly signed (read from the catalog), and the process still serving after."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lightfast_pipeline.catalog.models import ActivityEvent, WebhookDelivery
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.webhooks.signature import signature_for
from tests.conftest import PROJECT_ROOT
from tests.support.api_server import api_environment, environment, free_port
from tests.support.github_fixtures import WEBHOOK_SECRET

# header values a client can send (h11 refuses surrounding spaces)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120).map(str.strip)
# Finite numbers only: NaN and Infinity are not JSON (the receiver refuses them, tested with the unsigned bodies).
FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | FINITE | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["repository", "sender", "installation", "action", "id", "full_name", "login"])
                      | st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)  # fmt: skip
OBJECT_BODY = st.dictionaries(st.sampled_from(["repository", "sender", "installation", "action"]), JSON, max_size=4)
BODY = st.one_of(
    OBJECT_BODY.map(lambda value: json.dumps(value).encode()),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=400),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 5000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.sampled_from([b"", b"{}", b'{"n": NaN}', b"\xff\xfe{}", b'{"action": "opened"}']),
)
SIGNATURES = ["valid"] * 4 + ["none", "wrong_secret", "garbage", "sha1", "uppercase"]  # mostly past the signature
PATHS = st.one_of(
    st.just("/webhooks/github"),  # the receiver itself most of the time
    st.sampled_from(["/webhooks/github/", "/healthz", "/", "/webhooks", "//webhooks/github", "/webhooks/github?x=1"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(lambda text: "/" + text),
)
METHODS = st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])


@dataclass
class Receiver:
    """The served receiver, a client for it, the catalog it writes, and the delivery ids it may store."""

    url: str
    process: subprocess.Popen
    client: httpx.Client
    runtime: Runtime
    signed: set[str] = field(default_factory=set)  # correctly signed, valid-header deliveries sent

    def serving(self) -> bool:
        return self.process.poll() is None and self.client.get("/healthz").json() == {"status": "ok"}


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    root: Path = tmp_path_factory.mktemp("webhooks-fuzz")
    env = api_environment(root / "lightfast") | {"GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET}
    port = free_port()
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "webhooks", "serve", "--port", str(port)]
    with environment(env), (root / "receiver.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--request-timeout", "5"], env=dict(os.environ), cwd=PROJECT_ROOT, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (root / "receiver.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.3)
        runtime = Runtime()
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                yield Receiver(url, process, client, runtime)
        finally:
            process.terminate()
            process.wait(20)
            runtime.instance.dispose()
        assert "Traceback" not in (root / "receiver.log").read_text()


def _signature(mode: str, body: bytes) -> str | None:
    valid = signature_for(body, WEBHOOK_SECRET)
    return {
        "valid": valid,
        "none": None,
        "wrong_secret": signature_for(body, "attacker-secret"),
        "garbage": "sha256=" + "0" * 64,
        "sha1": valid.replace("sha256=", "sha1="),
        "uppercase": "sha256=" + valid.removeprefix("sha256=").upper(),
    }[mode]


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=METHODS,
    path=PATHS,
    body=BODY,
    mode=st.sampled_from(SIGNATURES),
    event=st.sampled_from(["push", "ping", "installation"]) | HEADER_TEXT | st.none(),
    delivery=st.sampled_from(["fresh", "repeated"]) | HEADER_TEXT | st.none(),
    extra=st.dictionaries(st.sampled_from(["Content-Type", "User-Agent", "X-Forwarded-For", "Accept"]), HEADER_TEXT),
)
def test_hostile_requests_never_answer_5xx_nor_store_unsigned_deliveries(
    receiver: Receiver, method, path, body, mode, event, delivery, extra
) -> None:
    headers = dict(extra)
    delivery = {"fresh": str(uuid.uuid4()), "repeated": "repeated-delivery"}.get(delivery, delivery)
    signature = _signature(mode, body)
    for name, value in (("X-Hub-Signature-256", signature), ("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)):
        if value is not None:
            headers[name] = value
    response = receiver.client.request(method, path, content=body if method != "GET" else None, headers=headers)
    assert response.status_code < 500, (method, path, mode, response.status_code, response.text[:300])
    route = path.split("#", 1)[0].split("?", 1)[0]  # what the server routes on (no fragment is sent)
    to_receiver = method == "POST" and route == "/webhooks/github"
    if response.status_code in (200, 202):
        assert to_receiver or route == "/healthz", (method, path, response.status_code)
    if to_receiver and mode != "valid":
        assert response.status_code in (401, 413), (mode, response.status_code)
    if to_receiver and response.status_code == 202:
        receiver.signed.add(delivery)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    payload=OBJECT_BODY | JSON,
    event=st.sampled_from(["push", "ping", "installation", "pull_request"]) | HEADER_TEXT,
    repeated=st.booleans(),
)
def test_signed_deliveries_of_any_shape_are_stored_or_refused_never_5xx(
    receiver: Receiver, payload, event: str, repeated: bool
) -> None:
    body = json.dumps(payload).encode()
    delivery = "repeated-signed" if repeated else str(uuid.uuid4())
    headers = {"X-Hub-Signature-256": signature_for(body, WEBHOOK_SECRET), "X-GitHub-Event": event}
    response = receiver.client.post("/webhooks/github", content=body, headers=headers | {"X-GitHub-Delivery": delivery})
    expected = {200, 202} if isinstance(payload, dict) and event and len(event) <= 60 else {400}
    assert response.status_code in expected, (payload, event, response.status_code, response.text[:300])
    if response.status_code == 202:
        receiver.signed.add(delivery)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    request_line=st.one_of(
        st.binary(max_size=200),
        st.tuples(
            st.sampled_from([b"POST", b"GET", b"BREW", b"", b"P\x00ST"]),
            st.binary(max_size=60),
            st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b""]),
        ).map(lambda parts: b" ".join(parts)),
    ),
    header_lines=st.lists(st.binary(max_size=80), max_size=5),
    content_length=st.none() | st.sampled_from([b"-1", b"0", b"abc", b"99999999999999999999", b"3, 4"]),
)
def test_raw_malformed_http_never_answers_5xx(receiver: Receiver, request_line, header_lines, content_length) -> None:
    lines = [request_line, b"Host: fuzz", *header_lines]
    if content_length is not None:
        lines.append(b"Content-Length: " + content_length)
    raw = b"\r\n".join(lines) + b"\r\n\r\n{}"
    with socket.create_connection(("127.0.0.1", int(receiver.url.rsplit(":", 1)[1])), timeout=15) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert not status_line.startswith((b"HTTP/1.1 5", b"HTTP/1.0 5")), (raw[:300], status_line)


def test_after_the_fuzzing_the_receiver_serves_and_stored_only_signed_deliveries(receiver: Receiver) -> None:
    """Runs after the fuzz tests (file order): every stored row was answered 202 to a signed request."""
    assert receiver.serving()
    body = b'{"zen": "still here"}'
    headers = {
        "X-Hub-Signature-256": signature_for(body, WEBHOOK_SECRET),
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "after-the-fuzz",
    }
    assert receiver.client.post("/webhooks/github", content=body, headers=headers).status_code == 202
    receiver.signed.add("after-the-fuzz")
    with receiver.runtime.session() as session:
        stored = set(session.scalars(select(WebhookDelivery.delivery_id)))
        received = set(session.scalars(select(ActivityEvent.delivery_id).where(ActivityEvent.delivery_id.is_not(None))))
    assert "after-the-fuzz" in stored and len(stored) >= 50  # the fuzzing got past the signature often
    assert stored <= receiver.signed, stored - receiver.signed
    assert received == stored

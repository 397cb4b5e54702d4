"""The warm embedding service: `lightfast embedder serve` in a real process, clients in this one."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lightfast_pipeline.embedders.served import ServedEmbedder
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings, load_settings
from tests.conftest import PROJECT_ROOT
from tests.support.embedders import HashingEmbedder

TEXTS = ["The deploy guide explains rollbacks.", "Webhooks arrive signed.", "", "ünïcode ✓ text"]


def get_health(socket_path: Path) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://embedder") as client:
        return client.get("/healthz")


def start_service(*extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "embedder", "serve", *extra]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_socket(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"service exited: {process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("the service did not open its socket")
        time.sleep(0.05)


@pytest.fixture
def service(lightfast_env: Settings) -> Iterator[subprocess.Popen]:
    process = start_service()
    wait_for_socket(lightfast_env.embedder_socket, process)
    yield process
    process.terminate()
    process.wait(timeout=20)


def test_runs_embed_through_the_service_with_the_in_process_vectors(
    lightfast_env: Settings, service: subprocess.Popen
) -> None:
    socket_path = lightfast_env.embedder_socket
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    HashingEmbedder.reset_counts()
    embedder = Runtime().embedder
    assert isinstance(embedder, ServedEmbedder)
    embedder.warm_up()
    vectors = embedder.embed_documents(TEXTS)
    assert embedder.embed_query("rollbacks") == HashingEmbedder().embed_query("rollbacks")
    assert HashingEmbedder.calls == 1  # only the reference call above: the service embedded the rest
    assert vectors == HashingEmbedder().embed_documents(TEXTS)
    assert embedder.count_tokens(TEXTS[0]) == HashingEmbedder().count_tokens(TEXTS[0])


def test_a_second_service_is_refused_and_a_stale_socket_replaced(
    lightfast_env: Settings, service: subprocess.Popen
) -> None:
    second = start_service()
    assert second.wait(timeout=60) == 1
    assert "already served" in second.stdout.read()

    service.send_signal(signal.SIGKILL)  # leaves its socket file behind
    service.wait(timeout=10)
    assert lightfast_env.embedder_socket.exists()
    replacement = start_service()
    try:
        time.sleep(0.2)
        deadline = time.monotonic() + 60
        while True:  # the stale file is replaced by a socket that answers
            try:
                response = get_health(lightfast_env.embedder_socket)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and replacement.poll() is None
                time.sleep(0.05)
        assert response.json() == {"model": HashingEmbedder.model, "dimension": HashingEmbedder.dimension}
    finally:
        replacement.terminate()
        replacement.wait(timeout=20)
    assert not lightfast_env.embedder_socket.exists()  # removed on a clean stop


def test_without_a_live_service_the_run_embeds_in_process(lightfast_env: Settings, service: subprocess.Popen) -> None:
    embedder = Runtime().embedder
    HashingEmbedder.reset_counts()
    assert embedder.embed_documents(TEXTS[:2]) == HashingEmbedder().embed_documents(TEXTS[:2])
    assert HashingEmbedder.calls == 1
    service.send_signal(signal.SIGKILL)  # dies between two calls of the same run
    service.wait(timeout=10)
    assert embedder.embed_documents(TEXTS) == HashingEmbedder().embed_documents(TEXTS)
    assert HashingEmbedder.calls == 3  # the reference calls and the fallback


def test_a_service_of_another_model_is_not_used(lightfast_env: Settings, service: subprocess.Popen) -> None:
    other_model = HashingEmbedder()
    other_model.model = "another-model"
    client = ServedEmbedder(other_model, lightfast_env.embedder_socket)
    HashingEmbedder.reset_counts()
    assert client.embed_documents(TEXTS) == HashingEmbedder().embed_documents(TEXTS)
    assert HashingEmbedder.calls == 2  # the reference call and the client's own, in process


def test_malformed_requests_get_400(lightfast_env: Settings, service: subprocess.Popen) -> None:
    transport = httpx.HTTPTransport(uds=str(lightfast_env.embedder_socket))
    with httpx.Client(transport=transport, base_url="http://embedder") as client:
        assert client.post("/embed", content=b"{not json").status_code == 400
        assert client.post("/embed", json={"texts": "one string"}).status_code == 400
        assert client.post("/embed", json={"texts": [1, 2]}).status_code == 400
        assert client.post("/embed", json={"texts": ["x"] * 1025}).status_code == 413
        assert client.post("/embed", json={"texts": ["ok"]}).status_code == 200


def test_the_service_stops_with_the_process_it_serves(lightfast_env: Settings) -> None:
    watched = subprocess.Popen(["sleep", "60"])
    process = start_service("--exit-with-pid", str(watched.pid))
    try:
        wait_for_socket(lightfast_env.embedder_socket, process)
        watched.kill()
        watched.wait()
        assert process.wait(timeout=15) == 0
        assert not lightfast_env.embedder_socket.exists()
    finally:
        process.kill()
        watched.kill()


def test_a_deep_home_gets_a_short_private_socket_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTFAST_HOME", str(tmp_path / ("d" * 120)))
    path = load_settings().embedder_socket
    assert len(os.fsencode(path)) < 108 and path.name.startswith("embedder-")
    monkeypatch.setenv("LIGHTFAST_HOME", str(tmp_path / "h"))
    assert load_settings().embedder_socket == tmp_path / "h" / "embedder.sock"


def test_cohere_needs_no_service(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "cohere")
    process = start_service()
    assert process.wait(timeout=60) == 1
    assert "needs no embedding service" in process.stdout.read()


@pytest.mark.slow
def test_real_model_runs_never_load_torch_when_served(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "local")
    process = start_service()
    try:
        wait_for_socket(lightfast_env.embedder_socket, process, timeout=120)
        code = (
            "import json, sys\n"
            "from lightfast_pipeline.runtime import Runtime\n"
            f"vectors = Runtime().embedder.embed_documents({TEXTS!r})\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'vectors': vectors}))\n"
        )
        client = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
        assert client.returncode == 0, client.stderr
        served = json.loads(client.stdout)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert served["torch"] is False
    from lightfast_pipeline.embedders.local import SentenceTransformerEmbedder

    in_process = SentenceTransformerEmbedder().embed_documents(TEXTS)
    pairs = zip(served["vectors"], in_process, strict=True)
    assert max(abs(a - b) for u, v in pairs for a, b in zip(u, v, strict=True)) < 1e-6

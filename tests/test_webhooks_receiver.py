"""The webhook receiver: signature before parsing, limits, one stored row per delivery id, CLI listing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, WebhookDelivery
from lightfast_pipeline.cli.app import app as cli
from lightfast_pipeline.cli.common import get_runtime
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.webhooks import MAX_BODY_BYTES, ReceiverConfigError, create_app
from lightfast_pipeline.webhooks.app import MAX_JSON_DEPTH
from tests.conftest import FIXTURES
from tests.support.github_fixtures import delivery_headers, encode, load_webhook

URL = "/webhooks/github"


@pytest.fixture
def runtime(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "current-secret")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET_PREVIOUS", "previous-secret")
    return Runtime()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.session() as session:
        deliveries = session.scalar(select(func.count()).select_from(WebhookDelivery))
        activity = session.scalar(
            select(func.count()).select_from(ActivityEvent).where(ActivityEvent.action == actions.DELIVERY_RECEIVED)
        )
    return deliveries, activity


@pytest.mark.shared_fixtures
def test_known_answer_signature_of_a_real_delivery(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = json.loads((FIXTURES / "github-webhooks" / "push.delivery-with-headers.sha256-signed.json").read_text())
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "abc123")
    body = json.dumps(recorded["body"], separators=(",", ":")).encode()
    with TestClient(create_app(runtime)) as client:
        response = client.post(URL, content=body, headers=recorded["headers"])
    assert response.status_code == 202, response.text
    with runtime.session() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        activity = session.scalars(select(ActivityEvent)).one()
    assert (row.delivery_id, row.event, row.action, row.status) == (
        "a69a7714-4d73-11ee-89f7-e602c804aeb7",
        "push",
        None,
        "received",
    )
    assert (row.github_repository_id, row.installation_id, row.sender) == ("528024524", "28513985", "lotas")
    assert row.repository_full_name == "taskcluster/tc-dev-integration-test"
    assert row.payload == recorded["body"]
    assert (activity.action, activity.status, activity.delivery_id) == (
        actions.DELIVERY_RECEIVED,
        "in_progress",
        row.delivery_id,
    )


@pytest.mark.shared_fixtures
def test_repeated_delivery_is_acknowledged_and_stores_nothing(client: TestClient, runtime: Runtime) -> None:
    body = encode(load_webhook("push.modified.json"))
    headers = delivery_headers("push", body, delivery_id="d-1", secret="current-secret")
    assert client.post(URL, content=body, headers=headers).status_code == 202
    second = client.post(URL, content=body, headers=headers)
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert counts(runtime) == (1, 1)


@pytest.mark.shared_fixtures
def test_previous_secret_is_accepted_during_rotation(client: TestClient, runtime: Runtime) -> None:
    body = encode(load_webhook("ping.json"))
    response = client.post(URL, content=body, headers=delivery_headers("ping", body, secret="previous-secret"))
    assert response.status_code == 202
    assert counts(runtime) == (1, 1)


@pytest.mark.shared_fixtures
def test_forged_or_missing_signature_is_401_and_nothing_is_stored(client: TestClient, runtime: Runtime) -> None:
    body = encode(load_webhook("push.modified.json"))
    forged = delivery_headers("push", body, secret="attacker-secret")
    assert client.post(URL, content=body, headers=forged).status_code == 401
    tampered = delivery_headers("push", body, secret="current-secret")
    assert client.post(URL, content=body + b" ", headers=tampered).status_code == 401
    unsigned = {k: v for k, v in tampered.items() if k != "X-Hub-Signature-256"}
    assert client.post(URL, content=body, headers=unsigned).status_code == 401
    sha1_only = {
        **unsigned,
        "X-Hub-Signature-256": tampered["X-Hub-Signature-256"].replace("sha256=", "sha1="),
    }
    assert client.post(URL, content=body, headers=sha1_only).status_code == 401
    assert counts(runtime) == (0, 0)


def test_malformed_json_and_missing_headers_are_400(client: TestClient, runtime: Runtime) -> None:
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = client.post(URL, content=body, headers=delivery_headers("push", body, secret="current-secret"))
        assert response.status_code == 400, body
    body = encode({"zen": "x"})
    headers = delivery_headers("ping", body, secret="current-secret")
    del headers["X-GitHub-Delivery"]
    assert client.post(URL, content=body, headers=headers).status_code == 400
    assert counts(runtime) == (0, 0)


def _nested(levels: int) -> dict:
    """An object whose arrays nest so that objects and arrays together are ``levels`` deep."""
    value: object = 1
    for _ in range(levels - 1):
        value = [value]
    return {"a": value}


def test_json_nesting_is_limited_to_max_depth_whatever_the_brackets_in_strings(
    client: TestClient, runtime: Runtime
) -> None:
    wide = [{"added": [], "author": {"name": str(n)}} for n in range(50)]  # more brackets than the limit
    accepted = {
        "at_limit": _nested(MAX_JSON_DEPTH),
        "at_limit_wide": {"commits": wide, "deep": _nested(MAX_JSON_DEPTH - 1)},
        "brackets_in_strings": {"message": "[{" * 100, "items": [{"n": n} for n in range(3)]},
    }
    refused = {
        "over_limit": _nested(MAX_JSON_DEPTH + 1),
        "over_limit_wide": {"commits": wide, "deep": _nested(MAX_JSON_DEPTH)},
    }
    for name, payload in {**accepted, **refused}.items():
        body = encode(payload)
        response = client.post(URL, content=body, headers=delivery_headers("push", body, secret="current-secret"))
        assert response.status_code == (202 if name in accepted else 400), name
    assert counts(runtime) == (len(accepted), len(accepted))


def test_oversized_bodies_are_413(client: TestClient, runtime: Runtime) -> None:
    body = b"x" * (MAX_BODY_BYTES + 1)
    response = client.post(URL, content=body, headers=delivery_headers("push", body, secret="current-secret"))
    assert response.status_code == 413

    small = create_app(runtime, max_body_bytes=1024)
    streamed = (b"{" + b" " * 512 for _ in range(4))  # chunked: no Content-Length to trust
    with TestClient(small) as limited:
        assert limited.post(URL, content=streamed, headers={"X-Hub-Signature-256": "sha256=0"}).status_code == 413
    assert counts(runtime) == (0, 0)


def test_healthz_and_refusal_without_secret(client: TestClient, runtime: Runtime, monkeypatch) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET")
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET_PREVIOUS")
    with pytest.raises(ReceiverConfigError, match="GITHUB_WEBHOOK_SECRET"):
        create_app(runtime)


@pytest.mark.shared_fixtures
def test_cli_lists_deliveries_as_json(client: TestClient, runtime: Runtime) -> None:
    for delivery_id, name, event in (("a-1", "ping.json", "ping"), ("a-2", "push.modified.json", "push")):
        body = encode(load_webhook(name))
        headers = delivery_headers(event, body, delivery_id=delivery_id, secret="current-secret")
        assert client.post(URL, content=body, headers=headers).status_code == 202
    get_runtime.cache_clear()  # the CLI caches its Runtime per process
    result = CliRunner().invoke(cli, ["webhooks", "deliveries", "--json", "--limit", "1"])
    assert result.exit_code == 0, result.output
    (newest,) = json.loads(result.stdout)["deliveries"]
    assert newest.keys() >= {"id", "event", "action", "status", "reason", "run_id", "received_at"}
    assert (newest["id"], newest["event"], newest["status"]) == ("a-2", "push", "received")
    result = CliRunner().invoke(cli, ["webhooks", "deliveries", "--status", "bogus"])
    assert result.exit_code != 0

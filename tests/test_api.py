"""The service API over real HTTP: `lightfast serve` as a subprocess over a two-workspace state, on SQLite and
on PostgreSQL; every endpoint's contract, parity with the CLI, the tenant matrix, roles, revocation, rate limit,
body limit, the SSE stream, the export, and the MCP endpoint through the SDK's own client."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL

from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.metrics.current import bring_current
from lightfast_pipeline.runtime import Runtime
from tests.support.api_server import (
    ApiServer,
    GitRepo,
    Tenant,
    api_environment,
    build_tenant,
    cli,
    cli_json,
    environment,
    start_server,
)
from tests.support.postgres import create_database, drop_database

WINDOW = f"{(datetime.now(UTC) - timedelta(days=1)).date()}..{(datetime.now(UTC) + timedelta(days=1)).date()}"


@dataclass
class State:
    server: ApiServer
    runtime: Runtime
    alpha: Tenant
    beta: Tenant
    root: Path

    def client(self, tenant: Tenant, role: str = "admin") -> httpx.Client:
        return self.server.client(tenant.keys[role])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    database_url = None
    admin: URL | None = None
    name = f"api_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        admin = request.getfixturevalue("postgres_server")
        database_url = create_database(admin, name).render_as_string(hide_password=False)
    root = tmp_path_factory.mktemp(f"api-{request.param}")
    env = api_environment(root / "lightfast", database_url)
    with environment(env):
        runtime = Runtime()
        alpha = build_tenant(runtime, root, "alpha", "zebra", "5551")
        beta = build_tenant(runtime, root, "beta", "kumquat", "5552")
        settings = runtime.settings
        refreshed = bring_current(settings.warehouse_path, runtime.instance, settings.database_url, user="tester")
        assert refreshed.job == "rebuild_metrics"  # a new warehouse: the metrics job builds the models
        server = start_server(
            dict(__import__("os").environ),
            root / "serve.log",
            "--allow-local-paths",
            "--rate-limit",
            "300",
            "--burst",
            "40",
        )
        try:
            yield State(server, runtime, alpha, beta, root)
        finally:
            server.stop()
            runtime.instance.dispose()
    if admin is not None:
        drop_database(admin, name)


def as_api(value: Any) -> Any:
    """CLI JSON as the API renders it: times in UTC end in ``Z`` (the CLI writes ``+00:00`` in places)."""
    return json.loads(json.dumps(value).replace('+00:00"', 'Z"'))


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


# -- the server, errors, documentation ------------------------------------------------------------------------
def test_healthz_openapi_docs_and_error_shape(state: State) -> None:
    anonymous = state.server.client()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    paths = anonymous.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/workspace",
        "/v1/workspace/statistics/comparison",
        "/v1/repositories/{repository_id}/reindex",
        "/v1/jobs/{run_id}/cancel",
        "/v1/activity/stream",
        "/v1/github/installations/{installation_id}/validate",
        "/v1/search",
    ):
        assert path in paths
    assert "swagger" in anonymous.get("/docs").text.lower()
    unknown = anonymous.get("/no/such/route")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"

    alpha = state.client(state.alpha)
    invalid = alpha.get("/v1/jobs", params={"limit": "many"})
    assert invalid.status_code == 422 and "limit" in error_of(invalid)["message"]
    bad_json = alpha.post("/v1/search", content=b'{"query": ', headers={"content-type": "application/json"})
    assert bad_json.status_code == 422 and "body" in error_of(bad_json)["message"]
    missing = alpha.post("/v1/search", json={"top_k": 3})
    assert missing.status_code == 422 and "query" in error_of(missing)["message"]
    huge = alpha.post("/v1/search", json={"query": "x" * 100_000})
    assert huge.status_code == 413 and error_of(huge)["code"] == "payload_too_large"


# -- keys: authentication, roles, revocation, rate limit -------------------------------------------------------
def test_missing_wrong_and_revoked_keys_answer_401(state: State) -> None:
    for headers in ({}, {"Authorization": "Bearer lfk_000000000000_nope"}, {"Authorization": "Basic abc"}):
        response = httpx.get(f"{state.server.url}/v1/workspace", headers=headers)
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    # 401 comes before anything else is looked at (a bad body, an unknown route under /v1)
    assert httpx.post(f"{state.server.url}/v1/search", content=b"{").status_code == 401

    revocable = state.client(state.alpha, "revocable")
    assert revocable.get("/v1/workspace").status_code == 200
    revoked = cli_json("keys", "revoke", str(state.alpha.key_ids["revocable"]), "--json")
    assert revoked["revoked_at"] is not None
    response = revocable.get("/v1/workspace")
    assert response.status_code == 401 and "revoked" in error_of(response)["message"]
    listed = {row["id"]: row for row in cli_json("keys", "list", "--workspace", "alpha", "--json")["keys"]}
    assert listed[state.alpha.key_ids["revocable"]]["revoked_at"] is not None
    assert all("key" not in row and "key_hash" not in row for row in listed.values())


def test_keys_are_stored_only_as_hashes(state: State) -> None:
    from sqlalchemy import select

    from lightfast_pipeline.catalog.models import ApiKey

    with state.runtime.session() as session:
        stored = " ".join(f"{row.prefix} {row.key_hash}" for row in session.scalars(select(ApiKey)))
    for key in [*state.alpha.keys.values(), *state.beta.keys.values()]:
        assert key.split("_", 2)[2] not in stored and key not in stored
    created = cli_json("keys", "create", "--workspace", "beta", "--role", "read", "--name", "ci", "--json")
    assert set(created) == {"id", "name", "workspace", "role", "key"}
    assert created["workspace"] == "beta" and len(created["key"].split("_", 2)[2]) >= 43  # >= 256 bits, base64
    assert "error" in cli("keys", "create", "--role", "owner").output


def test_read_key_cannot_mutate(state: State) -> None:
    read = state.client(state.alpha, "read")
    repo = state.alpha.repository_id
    for method, path, body in (
        ("POST", f"/v1/repositories/{repo}/detect-config", None),
        ("POST", f"/v1/repositories/{repo}/reindex", None),
        ("DELETE", f"/v1/repositories/{repo}", None),
        ("POST", "/v1/repositories", {"path": str(state.root)}),
        ("POST", f"/v1/jobs/{state.alpha.queued_run_id}/cancel", None),
        ("POST", "/v1/github/installations/1/validate", None),
    ):
        response = read.request(method, path, json=body)
        assert response.status_code == 403, (path, response.text)
        assert error_of(response)["code"] == "forbidden"
    assert read.get(f"/v1/repositories/{repo}").status_code == 200
    assert read.post("/v1/search", json={"query": "zebra"}).status_code == 200


def test_rate_limit_answers_429_with_retry_after_then_recovers(state: State) -> None:
    burst = state.client(state.alpha, "burst")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: burst.get("/v1/workspace"), range(100)))
    limited = [response for response in statuses if response.status_code == 429]
    assert limited, "100 requests at once with a burst of 40 (then 5/s) must be limited"
    assert all(response.status_code in (200, 429) for response in statuses)
    assert error_of(limited[0])["code"] == "rate_limited"
    wait = int(limited[0].headers["retry-after"])
    assert 1 <= wait <= 2
    time.sleep(wait)
    assert burst.get("/v1/workspace").status_code == 200
    assert state.client(state.beta, "burst").get("/v1/workspace").status_code == 200  # per key


# -- workspace ------------------------------------------------------------------------------------------------
def test_workspace_and_statistics_equal_the_cli(state: State) -> None:
    alpha = state.client(state.alpha)
    workspace = alpha.get("/v1/workspace").json()
    rows = {row["slug"]: row for row in cli_json("workspace", "list", "--json")["workspaces"]}
    assert workspace == as_api(rows["alpha"])
    assert set(workspace) >= {"id", "name", "slug", "key", "organization"}

    stats = alpha.get("/v1/workspace/statistics").json()
    assert stats["sources"] == {"total": 1, "by_type": {"local": 1}}
    cli_stores = cli_json("store", "list", "--workspace", "alpha", "--json")["stores"]
    assert stats["stores"] == [
        {"slug": s["slug"], "model": s["model"], "documents": s["documents"], "chunks": s["chunks"]} for s in cli_stores
    ]
    assert stats["totals"]["documents"] == 2 and stats["totals"]["chunks"] == cli_stores[0]["chunks"]
    cli_jobs = cli_json("jobs", "stats", "--workspace", "alpha", "--hours", "24", "--json")
    assert stats["jobs_24h"] == cli_jobs
    assert stats["jobs_24h"]["by_status"]["completed"] >= 1


def test_comparison_percentiles_timeseries_health_equal_the_cli(state: State) -> None:
    alpha = state.client(state.alpha)
    expected = cli_json(
        "stats", "--no-refresh", "--workspace", "alpha", "--range", WINDOW,
        "--compare", "--timeseries", "--health", "--json",
    )  # fmt: skip
    comparison = alpha.get("/v1/workspace/statistics/comparison", params={"range": WINDOW}).json()
    assert comparison == {"range": expected["range"], "comparison": expected["comparison"]}
    assert comparison["comparison"]["total"]["previous"] == 0
    assert comparison["comparison"]["total"]["change_pct"] is None  # null when the previous is 0
    series = alpha.get("/v1/workspace/timeseries", params={"range": WINDOW}).json()
    assert series["timeseries"] == expected["timeseries"] and len(series["timeseries"]) == 72  # gaps filled
    health = alpha.get("/v1/workspace/health", params={"range": WINDOW}).json()
    assert health["workspace"]["status"] == expected["health"]["workspace"] == "healthy"
    assert {node["name"]: node["status"] for node in health["sources"]} == expected["health"]["sources"]
    assert {node["name"]: node["status"] for node in health["stores"]} == expected["health"]["stores"]
    assert "success rate 100.0%" in health["workspace"]["reason"]

    percentiles = alpha.get("/v1/workspace/percentiles", params={"range": "7d"}).json()
    cli_percentiles = cli_json(
        "stats", "--no-refresh", "--workspace", "alpha", "--range", "7d", "--percentiles", "--json"
    )
    assert percentiles["percentiles"] == cli_percentiles["percentiles"]
    assert set(percentiles["percentiles"]) == {"p50", "p95", "p99", "max", "sample_size"}
    assert alpha.get("/v1/workspace/percentiles", params={"range": "2d"}).status_code == 422
    assert alpha.get("/v1/workspace/timeseries", params={"range": "99999999999d"}).status_code == 422


# -- repositories ---------------------------------------------------------------------------------------------
def test_repositories_list_get_detect_equal_the_cli(state: State) -> None:
    alpha = state.client(state.alpha)
    listed = alpha.get("/v1/repositories").json()["repositories"]
    cli_rows = [r for r in cli_json("repo", "list", "--json")["repositories"] if r["workspace"] == "alpha"]
    assert listed == as_api(cli_rows)
    assert [
        row["name"] for row in alpha.get("/v1/repositories", params={"active": "false"}).json()["repositories"]
    ] == ["alpha-org/site"]
    one = alpha.get(f"/v1/repositories/{state.alpha.repository_id}").json()
    assert one == as_api(cli_json("repo", "show", str(state.alpha.repository_id), "--json"))
    detected = alpha.post(f"/v1/repositories/{state.alpha.repository_id}/detect-config").json()
    assert detected == {"status": "configured", "path": "lightfast.yml", "error": None}
    assert detected == cli_json("repo", "detect-config", str(state.alpha.repository_id), "--json")


def test_connect_reindex_disconnect_record_the_key_as_actor(state: State) -> None:
    alpha = state.client(state.alpha)
    repo = GitRepo(state.root / "alpha-extra")
    repo.write("lightfast.yml", 'version: 1\nstore: docs\ninclude: ["*.md"]\n')
    repo.write("one.md", "# One\n\nfirst\n")
    repo.write("two.md", "# Two\n\nsecond\n")
    repo.commit("docs")

    connected = alpha.post("/v1/repositories", json={"path": str(repo.path)})
    assert connected.status_code == 201, connected.text
    row = connected.json()
    assert row["workspace"] == "alpha" and row["config_status"] == "configured"
    again = alpha.post("/v1/repositories", json={"path": str(repo.path)})
    assert again.status_code == 409
    assert alpha.post("/v1/repositories", json={"path": "/no/such/dir"}).status_code == 400
    assert alpha.post("/v1/repositories", json={"github": "x/y", "path": "/tmp"}).status_code == 422

    started = alpha.post(f"/v1/repositories/{row['id']}/reindex")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["matched_files"] == 2 and body["run_url"].endswith(f"/runs/{body['run_id']}")
    job = _wait_for_job(alpha, body["run_id"])
    assert job["status"] == "completed", job
    assert job["trigger"] == "manual" and job["user"] == "alpha-admin"
    assert alpha.get(f"/v1/repositories/{row['id']}").json()["document_count"] == 2

    gone = alpha.delete(f"/v1/repositories/{row['id']}")
    assert gone.status_code == 200
    assert gone.json()["documents_removed"] == 2 and gone.json()["vectors_removed"] == 2
    assert alpha.delete(f"/v1/repositories/{row['id']}").status_code == 404  # already disconnected

    actions = {
        entry["action"]
        for entry in alpha.get("/v1/activity", params={"actor": "alpha-admin", "limit": 100}).json()["activity"]
    }
    assert {"repository.connected", "config.detected", "reindex.requested", "repository.disconnected"} <= actions


def _wait_for_job(client: httpx.Client, run_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{run_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {run_id} did not finish")


# -- jobs -----------------------------------------------------------------------------------------------------
def test_jobs_list_get_recent_equal_the_cli_and_paginate(state: State) -> None:
    alpha = state.client(state.alpha)
    page = alpha.get("/v1/jobs", params={"limit": 100}).json()
    assert page == cli_json("jobs", "list", "--workspace", "alpha", "--limit", "100", "--json")
    assert {job["workspace"] for job in page["jobs"]} == {"alpha"}
    collected, cursor = [], None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        one = alpha.get("/v1/jobs", params=params).json()
        collected += one["jobs"]
        if not one["has_more"]:
            break
        cursor = one["next_cursor"]
    assert collected == page["jobs"]
    completed = alpha.get("/v1/jobs", params={"status": "completed", "trigger": "manual"}).json()["jobs"]
    assert completed and all(job["status"] == "completed" for job in completed)
    detail = alpha.get(f"/v1/jobs/{state.alpha.run_ids[0]}").json()
    assert detail == cli_json("jobs", "get", state.alpha.run_ids[0], "--json")
    assert detail["output"]["documents_added"] == 2
    recent = alpha.get("/v1/jobs/recent", params={"limit": 2}).json()["jobs"]
    assert recent == page["jobs"][:2]


def test_cancel_a_queued_job_names_the_key(state: State) -> None:
    alpha = state.client(state.alpha)
    cancelled = alpha.post(f"/v1/jobs/{state.alpha.queued_run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = alpha.post(f"/v1/jobs/{state.alpha.queued_run_id}/cancel")
    assert again.status_code == 409 and "only queued or running" in error_of(again)["message"]
    rows = alpha.get("/v1/activity", params={"type": "job.cancelled"}).json()["activity"]
    assert [(row["actor"], row["run_id"]) for row in rows] == [("alpha-admin", state.alpha.queued_run_id)]


# -- activity -------------------------------------------------------------------------------------------------
def test_activity_equals_the_cli_and_the_export_equals_the_paged_list(state: State) -> None:
    alpha = state.client(state.alpha)
    first = alpha.get("/v1/activity", params={"limit": 1000}).json()
    # the CLI's page is read a moment later: runs are live, so compare ids and actions
    expected = cli_json("activity", "--workspace", "alpha", "--limit", "1000", "--json")
    assert [(e["id"], e["action"]) for e in first["activity"]] == [(e["id"], e["action"]) for e in expected["activity"]]

    paged, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = alpha.get("/v1/activity", params=params).json()
        paged += page["activity"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    exported = alpha.get("/v1/activity/export", params={"format": "json"})
    assert exported.headers["content-type"].startswith("application/json")
    assert exported.json()["activity"] == paged
    rows = list(csv.DictReader(io.StringIO(alpha.get("/v1/activity/export", params={"format": "csv"}).text)))
    assert [(row["id"], row["action"]) for row in rows] == [(str(e["id"]), e["action"]) for e in paged]
    assert {entry["workspace"] for entry in paged} == {"alpha"}

    searched = alpha.get("/v1/activity", params={"search": "alpha-admin"}).json()["activity"]
    assert searched and all("alpha-admin" in json.dumps(entry) for entry in searched)
    assert alpha.get("/v1/activity", params={"status": "bogus"}).status_code == 422
    assert alpha.get("/v1/activity", params={"cursor": "garbage"}).status_code == 422


def test_activity_since_and_until_take_the_cli_forms(state: State) -> None:
    alpha = state.client(state.alpha)
    ids = [e["id"] for e in alpha.get("/v1/activity", params={"limit": 1000}).json()["activity"]]
    expected = cli_json("activity", "--workspace", "alpha", "--since", "7d", "--limit", "1000", "--json")
    recent = alpha.get("/v1/activity", params={"since": "7d", "limit": 1000})
    assert recent.status_code == 200, recent.text
    assert [e["id"] for e in recent.json()["activity"]] == [e["id"] for e in expected["activity"]] == ids
    assert alpha.get("/v1/activity", params={"until": "7d"}).json()["activity"] == []
    assert alpha.get("/v1/activity", params={"since": "2000-01-01T00:00Z"}).json()["activity"]
    for params in ({"since": "yesterday"}, {"until": "7y"}, {"since": "99999999d"}):
        refused = alpha.get("/v1/activity", params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert error_of(refused)["message"].startswith(next(iter(params)) + ": invalid time")


def test_event_stream_delivers_a_row_written_after_it_opened(state: State) -> None:
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with state.client(state.alpha, "read").stream(
            "GET", "/v1/activity/stream", params={"interval": 0.2}, timeout=30
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith(": keep-alive"):  # the first poll is over: what is written now is new
                    opened.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if received[-1]["reason"] == "written after open":
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(30)
    time.sleep(0.5)
    with state.runtime.session() as session:
        from lightfast_pipeline.catalog.models import Workspace

        for slug in ("beta", "alpha"):  # beta's row must never reach alpha's stream
            workspace = session.query(Workspace).filter_by(slug=slug).one()
            record_activity(
                session, action="store.created", entity_type="store", workspace_id=workspace.id,
                actor=f"{slug}-writer", reason="written after open",
            )  # fmt: skip
    listener.join(30)
    assert not listener.is_alive(), "the stream did not deliver the new row"
    assert [row["actor"] for row in received] == ["alpha-writer"]


def test_event_stream_backlog_replays_rows_written_before_it_opened(state: State) -> None:
    with state.runtime.session() as session:
        from lightfast_pipeline.catalog.models import Workspace

        workspace = session.query(Workspace).filter_by(slug="alpha").one()
        row = record_activity(
            session, action="store.created", entity_type="store", workspace_id=workspace.id,
            actor="before-open", reason="written before the stream opened",
        )  # fmt: skip
        session.flush()
        written = row.id
    ids: list[str] = []
    with state.client(state.alpha, "read").stream(
        "GET", "/v1/activity/stream", params={"interval": 0.2, "backlog": 3}, timeout=30
    ) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                ids.append(line[4:])
            if line.startswith(": keep-alive"):  # the first poll is over: the backlog came before it
                break
    assert len(ids) == 3 and ids[-1] == f"activity:{written}", ids
    assert state.client(state.alpha, "read").get("/v1/activity/stream", params={"backlog": 201}).status_code == 422


# -- deliveries and search --------------------------------------------------------------------------------------
def test_deliveries_are_scoped_and_filtered(state: State) -> None:
    alpha = state.client(state.alpha)
    assert [row["id"] for row in alpha.get("/v1/deliveries").json()["deliveries"]] == ["delivery-alpha"]
    assert alpha.get("/v1/deliveries", params={"status": "processed"}).json() == {"deliveries": []}
    assert alpha.get("/v1/deliveries", params={"status": "nonsense"}).status_code == 422
    cli_rows = cli_json("webhooks", "deliveries", "--json")["deliveries"]
    assert alpha.get("/v1/deliveries").json()["deliveries"] == as_api(
        [r for r in cli_rows if r["id"] == "delivery-alpha"]
    )


def test_search_equals_the_cli_and_filters(state: State) -> None:
    alpha = state.client(state.alpha, "read")
    body = alpha.post("/v1/search", json={"query": "zebra handbook", "top_k": 5}).json()
    expected = cli_json("search", "zebra handbook", "--workspace", "alpha", "--top-k", "5", "--json")
    assert body["results"] == expected["results"]
    assert (
        body["results"][0]["path"] == "docs/guide.md"
        and body["results"][0]["repository"] == state.alpha.repository_name
    )
    assert body["mode"] == expected["mode"] == "hybrid"
    assert set(body["latency_ms"]) == set(expected["latency_ms"]) >= {"embed", "vector", "keyword", "fuse", "total"}
    other = alpha.post("/v1/search", json={"query": "zebra", "path_prefix": "docs/other"}).json()["results"]
    assert [hit["path"] for hit in other] == ["docs/other.md"]
    none = alpha.post("/v1/search", json={"query": "zebra", "repository": "someone/else"}).json()["results"]
    assert none == []
    assert alpha.post("/v1/search", json={"query": "zebra", "top_k": 0}).status_code == 422


# -- tenant matrix --------------------------------------------------------------------------------------------
def test_alpha_key_never_reaches_beta(state: State) -> None:
    alpha, beta = state.client(state.alpha, "tenant"), state.beta
    missing = 999_999
    for method, path in (
        ("GET", f"/v1/repositories/{beta.repository_id}"),
        ("POST", f"/v1/repositories/{beta.repository_id}/detect-config"),
        ("POST", f"/v1/repositories/{beta.repository_id}/reindex"),
        ("DELETE", f"/v1/repositories/{beta.repository_id}"),
        ("GET", f"/v1/jobs/{beta.run_ids[0]}"),
        ("POST", f"/v1/jobs/{beta.queued_run_id}/cancel"),
    ):
        foreign = alpha.request(method, path)
        unknown = alpha.request(
            method,
            path.replace(str(beta.repository_id), str(missing))
            .replace(beta.run_ids[0], "f" * 36)
            .replace(beta.queued_run_id, "e" * 36),
        )
        assert foreign.status_code == unknown.status_code == 404, (path, foreign.text)
        assert foreign.json() == unknown.json()
    everything = json.dumps(
        [
            alpha.get("/v1/repositories", params={"active": "true"}).json(),
            alpha.get("/v1/repositories", params={"active": "false"}).json(),
            alpha.get("/v1/jobs", params={"limit": 100}).json(),
            alpha.get("/v1/jobs/recent", params={"limit": 100}).json(),
            alpha.get("/v1/activity", params={"limit": 1000}).json(),
            alpha.get("/v1/activity/export").json(),
            alpha.get("/v1/deliveries").json(),
            alpha.get("/v1/workspace/statistics").json(),
            alpha.get("/v1/workspace/health", params={"range": WINDOW}).json(),
            alpha.post("/v1/search", json={"query": f"{beta.word} handbook", "top_k": 100}).json(),
        ]
    )
    for secret in (beta.repository_name, beta.word, beta.run_ids[0], beta.queued_run_id, beta.delivery_id, '"beta"'):
        assert secret not in everything, secret
    assert state.server.client(beta.keys["read"]).get(f"/v1/jobs/{beta.queued_run_id}").json()["status"] == "queued"


# -- MCP ------------------------------------------------------------------------------------------------------
def test_mcp_client_lists_tools_searches_fetches(state: State) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def session_calls(key: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            create_mcp_http_client(headers=headers) as http,
            streamable_http_client(f"{state.server.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            hits = await session.call_tool("search", {"query": "zebra handbook", "top_k": 3})
            foreign = await session.call_tool("search", {"query": "kumquat handbook", "top_k": 10})
            document = await session.call_tool("fetch", {"path": "docs/guide.md"})
            repositories = await session.call_tool("list_repositories", {})
            return {
                "tools": {tool.name for tool in tools.tools},
                "hits": hits.structured_content["result"],
                "foreign": foreign.structured_content["result"],
                "document": document.structured_content,
                "repositories": repositories.structured_content["result"],
            }

    result = asyncio.run(session_calls(state.alpha.keys["read"]))
    assert result["tools"] == {"search", "fetch", "list_repositories"}
    assert result["hits"][0]["path"] == "docs/guide.md"
    assert set(result["hits"][0]) == {
        "path",
        "title",
        "heading",
        "snippet",
        "score",
        "repository",
        "vector_rank",
        "keyword_rank",
    }
    assert all(hit["repository"] != state.beta.repository_name for hit in result["foreign"])
    assert "zebra handbook" in result["document"]["text"] and "kumquat" not in result["document"]["text"]
    assert state.alpha.repository_name in [repo["name"] for repo in result["repositories"]]
    assert state.beta.repository_name not in json.dumps(result["repositories"])

    refused = httpx.post(f"{state.server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401

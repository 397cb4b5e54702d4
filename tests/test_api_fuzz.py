"""Hostile input: hypothesis-generated paths, query strings and bodies never make the API answer 5xx, and
every refusal has the error shape."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightfast_pipeline.metrics.current import bring_current
from lightfast_pipeline.runtime import Runtime
from tests.support.api_server import Tenant, api_environment, build_tenant, environment, start_server
from tests.support.github_fixtures import APP_ID, WEBHOOK_SECRET, app_key_pair
from tests.support.github_server import GitHubServer

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SEGMENT = st.one_of(st.integers(-(2**70), 2**70).map(str), TEXT.filter(bool), st.sampled_from(["0", "1", "-1", "."]))
ROUTES = [
    ("GET", "/v1/workspace"),
    ("GET", "/v1/workspace/statistics"),
    ("GET", "/v1/workspace/statistics/comparison"),
    ("GET", "/v1/workspace/percentiles"),
    ("GET", "/v1/workspace/timeseries"),
    ("GET", "/v1/workspace/health"),
    ("GET", "/v1/repositories"),
    ("GET", "/v1/repositories/{}"),
    ("POST", "/v1/repositories"),
    ("POST", "/v1/repositories/{}/detect-config"),
    ("POST", "/v1/repositories/{}/reindex"),
    ("DELETE", "/v1/repositories/{}"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/recent"),
    ("GET", "/v1/jobs/stats"),
    ("GET", "/v1/jobs/{}"),
    ("POST", "/v1/jobs/{}/cancel"),
    ("GET", "/v1/activity"),
    ("GET", "/v1/activity/export"),
    ("GET", "/v1/deliveries"),
    ("POST", "/v1/search"),
    ("GET", "/v1/github/installations"),
    ("POST", "/v1/github/installations/{}/validate"),
    ("GET", "/v1/github/installations/{}/repositories"),
    ("POST", "/v1/github/installations/{}/detect-config"),
    ("POST", "/mcp"),
]
PARAMS = [
    "range", "active", "status", "repository", "trigger", "limit", "cursor", "hours", "type", "source",
    "actor", "since", "until", "search", "format", "full", "interval",
]  # fmt: skip
FIELDS = ["query", "top_k", "repository", "path_prefix", "github", "installation_id", "path", "jsonrpc", "method"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | TEXT, inner, max_size=4),
    max_leaves=12,
)
QUERY = st.lists(st.tuples(st.sampled_from(PARAMS) | TEXT.filter(bool), TEXT | SEGMENT), max_size=5)
BODY = st.one_of(st.none(), JSON, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5), st.binary(max_size=300))


@dataclass
class FuzzState:
    client: httpx.Client
    tenant: Tenant


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzState]:
    root: Path = tmp_path_factory.mktemp("api-fuzz")
    private, public = app_key_pair()
    github = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    env = api_environment(root / "lightfast") | {
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_PRIVATE_KEY": private,
        "GITHUB_API_URL": github.url,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    with environment(env):
        runtime = Runtime()
        tenant = build_tenant(runtime, root, "fuzz", "walrus", "9001")
        settings_ = runtime.settings
        bring_current(settings_.warehouse_path, runtime.instance, settings_.database_url, user="tester")
        server = start_server(dict(os.environ), root / "serve.log", "--rate-limit", "1000000", "--burst", "1000000")
        try:
            with server.client(tenant.keys["admin"], timeout=120) as client:
                yield FuzzState(client, tenant)
        finally:
            server.stop()
            runtime.instance.dispose()
            github.stop()


def _send(state: FuzzState, method: str, template: str, segment: str, query: list, body: Any) -> httpx.Response:
    if segment in (str(state.tenant.repository_id), state.tenant.queued_run_id):
        segment = "404"  # keep the state: the real ids are exercised by test_api.py
    path = template.format(quote(segment, safe=""))
    kwargs: dict[str, Any] = {"params": query}
    if method != "GET" and body is not None:
        if isinstance(body, bytes):
            kwargs["content"] = body
            kwargs["headers"] = {"content-type": "application/json"}
        else:
            kwargs["content"] = json.dumps(body).encode()
            kwargs["headers"] = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    return state.client.request(method, path, **kwargs)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), segment=SEGMENT, query=QUERY, body=BODY)
def test_hostile_requests_never_answer_5xx(fuzz: FuzzState, route: tuple[str, str], segment: str, query, body) -> None:
    method, template = route
    response = _send(fuzz, method, template, segment, query, body)
    assert response.status_code < 500, (method, template, segment, query, body, response.text[:500])
    if response.status_code >= 400 and template != "/mcp":
        error = response.json()["error"]
        assert set(error) == {"code", "message"} and "Traceback" not in error["message"]

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


def _v1_path(segments: list[str]) -> str:
    return "/v1/" + "/".join(quote(segment, safe="") for segment in segments)


HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
AUTHORIZATION = st.none() | st.one_of(  # stripped: a client cannot send surrounding spaces (h11)
    HEADER_VALUE,
    HEADER_VALUE.map(lambda token: f"Bearer {token}"),
    st.sampled_from(["Bearer", "Basic dXNlcjpwYXNz", "bearer lfk_x", "Bearer lfk_1_x", "Bearer " + "a" * 4000]),
).map(str.strip)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    path=st.one_of(
        # not /mcp: a GET there is the long-lived event stream (tested in test_api.py), not a request to fuzz
        st.sampled_from([t.replace("{}", "1") for _, t in ROUTES if t != "/mcp"] + ["/", "/docs", "/openapi.json"]),
        st.lists(SEGMENT, min_size=1, max_size=4).map(
            lambda parts: "/v1/" + "/".join(quote(p, safe="") for p in parts)
        ),
    ),
    authorization=AUTHORIZATION,
    own_key=st.booleans(),
    content_type=st.none() | st.sampled_from(["application/json", "text/plain", "multipart/form-data", "x/y"]),
    body=st.binary(max_size=200),
)
def test_any_method_path_and_headers_never_answer_5xx(
    fuzz: FuzzState, method, path, authorization, own_key, content_type, body
) -> None:
    """Methods, paths and headers of any shape (keys present, absent or malformed): the server answers, below 500."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    if own_key:
        headers = {"Authorization": f"Bearer {fuzz.tenant.keys['read']}"}  # a read key: mutations are refused
    if content_type:
        headers["Content-Type"] = content_type
    response = httpx.request(method, fuzz.client.base_url.join(path), headers=headers, content=body or None, timeout=60)
    assert response.status_code < 500, (method, path, headers, response.status_code, response.text[:300])
    assert fuzz.client.get("/healthz").status_code == 200

"""The console in a real browser: Debian's Chromium driven by Playwright against `lightfast serve` started as a
subprocess over a state built here (an ingested repository, a completed, a failed and a queued job, a webhook
delivery, activity). Each page's screenshot is written to a folder printed at the start of the module."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import Repository, SourceType
from lightfast_pipeline.metrics.current import bring_current
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository, detect_repository_config
from tests.support.api_server import (
    CONFIG,
    ApiServer,
    GitRepo,
    Tenant,
    api_environment,
    build_tenant,
    environment,
    start_server,
)
from tests.support.browser import chromium_path, launch_args
from tests.support.ingest import ingest

TIMEOUT_MS = 60_000  # the machine is shared: generous
expect.set_options(timeout=TIMEOUT_MS)
SLOW_MS = 300_000  # a search's first model load, a reindex's `lightfast ingest` process start


@dataclass
class State:
    server: ApiServer
    runtime: Runtime
    tenant: Tenant
    failed_run_id: str
    broken_name: str
    shots: Path

    def api(self, role: str = "admin") -> httpx.Client:
        return self.server.client(self.tenant.keys[role])


def _failed_repository(runtime: Runtime, root: Path) -> tuple[str, str]:
    """A repository whose directory disappears before its ingestion: a failed job."""
    repo = GitRepo(root / "broken-docs")
    repo.write("lightfast.yml", CONFIG)
    repo.write("docs/a.md", "# A\n\nsoon gone\n")
    repo.commit("docs")
    source = LocalGitSource(repo.path)
    row = connect_repository(
        runtime,
        workspace_name="alpha",
        source=source,
        source_type=SourceType.LOCAL.value,
        location=str(repo.path),
        actor="tester",
    )
    detect_repository_config(runtime, row.id, source, actor="tester")
    shutil.rmtree(repo.path)
    outcome = ingest(runtime, row.id)
    assert outcome.status == "failed", outcome
    with runtime.session() as session:
        return outcome.run_id, session.get(Repository, row.id).full_name


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    root = tmp_path_factory.mktemp("console")
    # under the test's tmp dir; LIGHTFAST_SCREENSHOTS keeps them elsewhere (pytest prunes old tmp dirs)
    shots = Path(os.environ.get("LIGHTFAST_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {shots}")
    env = api_environment(root / "lightfast")
    with environment(env):
        runtime = Runtime()
        tenant = build_tenant(runtime, root, "alpha", "zebra", "5551")
        failed_run_id, broken_name = _failed_repository(runtime, root)
        with runtime.session() as session:
            repository = session.get(Repository, tenant.repository_id)
            record_activity(
                session,
                action=actions.DELIVERY_RECEIVED,
                entity_type="delivery",
                entity_id=tenant.delivery_id,
                actor="octocat",
                workspace_id=repository.workspace_id,
                repository=repository,
                source_type="github",
                status="skipped",
                reason="push",
                message="not connected",
                delivery_id=tenant.delivery_id,
            )
        settings = runtime.settings
        refreshed = bring_current(settings.warehouse_path, runtime.instance, settings.database_url, user="tester")
        assert refreshed.job == "rebuild_metrics"  # a new warehouse: the metrics job builds the models
        server = start_server(
            dict(os.environ),
            root / "serve.log",
            "--allow-local-paths",
            "--rate-limit",
            "6000",
            "--burst",
            "600",
        )
        try:
            yield State(server, runtime, tenant, failed_run_id, broken_name, shots)
        finally:
            server.stop()
            runtime.instance.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=launch_args())
        yield launched
        launched.close()


def signed_in(browser: Browser, state: State, role: str = "admin", **options: object) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=state.server.url, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/activity")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("#key", state.tenant.keys[role])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/activity$"))
    return context, page


def shot(page: Page, state: State, name: str) -> None:
    page.screenshot(path=str(state.shots / f"{name}.png"), full_page=True)


def statuses_on_page(page: Page) -> dict[str, str]:
    rows = page.locator("#timeline > li.entry")
    return {
        rows.nth(i).get_attribute("data-key"): rows.nth(i).get_attribute("data-status") for i in range(rows.count())
    }


def api_keys(entries: list[dict]) -> dict[str, str]:
    return {f"{'run' if e['action'] == 'job.run' else 'activity'}:{e['id']}": e["status"] for e in entries}


# -- sign-in, session cookie, CSP ------------------------------------------------------------------------------
def test_sign_in_sets_a_strict_http_only_session_and_a_script_only_csp(browser: Browser, state: State) -> None:
    context = browser.new_context(base_url=state.server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/jobs")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fjobs"))
    page.fill("#key", "lfk_000000000000_not-a-key")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("unknown or revoked")
    shot(page, state, "01-signin-refused")
    page.fill("#key", state.tenant.keys["admin"])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/jobs$"))
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert state.tenant.keys["admin"] not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
    response = httpx.get(f"{state.server.url}/activity", cookies={cookie["name"]: cookie["value"]})
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "<script>" not in response.text and re.findall(r"<script[^>]*>", response.text) == [
        '<script src="/static/console.js" defer>'
    ]
    # a forged cookie is no session
    forged = cookie["value"].rsplit(".", 1)[0] + ".00"
    assert httpx.get(f"{state.server.url}/activity", cookies={cookie["name"]: forged}).status_code == 303
    context.close()


# -- activity ----------------------------------------------------------------------------------------------------
def test_timeline_shows_the_state_with_statuses_filters_and_search(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    expected = api_keys(state.api().get("/v1/activity", params={"limit": 50}).json()["activity"])
    expect(page.locator("#live")).to_have_text("live")
    assert statuses_on_page(page) == expected
    assert expected[f"run:{state.failed_run_id}"] == "failure"
    assert expected[f"run:{state.tenant.queued_run_id}"] == "in_progress"
    assert expected[f"run:{state.tenant.run_ids[0]}"] == "success"
    assert "skipped" in expected.values()  # the delivery
    # relative time with the absolute time on hover; details expand with the job and its Dagster UI link
    row = page.locator(f'[data-key="run:{state.failed_run_id}"]')
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row.locator("time").get_attribute("title"))
    row.locator("summary").focus()
    page.keyboard.press("Enter")  # keyboard: details open
    expect(row.locator(".job-detail")).to_contain_text("Error")
    link = row.locator('a:has-text("run in the Dagster UI")')
    assert link.get_attribute("href").endswith(f"/runs/{state.failed_run_id}")
    shot(page, state, "02-activity")

    page.select_option("select[name=status]", "failure")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"status=failure"))
    failures = statuses_on_page(page)
    assert f"run:{state.failed_run_id}" in failures and set(failures.values()) == {"failure"}
    api_failures = state.api().get("/v1/activity", params={"status": "failure"}).json()["activity"]
    assert failures == api_keys(api_failures)
    shot(page, state, "03-activity-failures")

    page.goto("/activity")
    page.fill("input[name=q]", state.broken_name)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"q="))
    found = page.locator("#timeline > li.entry")
    assert found.count() >= 3  # connected, config detected, the failed job
    for i in range(found.count()):
        expect(found.nth(i)).to_contain_text(state.broken_name)
    shot(page, state, "04-activity-search")
    context.close()


def test_export_csv_has_the_rows_of_the_api(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    with page.expect_download() as download:
        page.click('a.button:has-text("CSV")')
    browser_rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    api_rows = list(csv.DictReader(io.StringIO(state.api().get("/v1/activity/export?format=csv").text)))
    assert browser_rows == api_rows and len(api_rows) >= 8
    with page.expect_download() as download:
        page.click('a.button:has-text("JSON")')
    assert json.loads(Path(download.value.path()).read_text()) == state.api().get("/v1/activity/export").json()
    context.close()


def test_phone_width_is_readable(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state, viewport={"width": 390, "height": 844}, is_mobile=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, state, "05-activity-phone")
    page.goto("/overview")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, state, "06-overview-phone")
    context.close()


# -- overview ----------------------------------------------------------------------------------------------------
def test_overview_charts_draw_the_state_numbers(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    page.goto("/overview?range=24h")
    api = state.api()
    series = api.get("/v1/workspace/timeseries", params={"range": "24h"}).json()["timeseries"]
    charts = page.locator("svg[data-chart]")
    expect(charts).to_have_count(3)

    def plotted(chart: str) -> list[float]:
        values = page.locator(f'svg[data-chart="{chart}"] desc.value').all_text_contents()
        return [float(value) for value in values]

    assert plotted("jobs") == [float(point["jobs"]) for point in series if point["jobs"] is not None]
    assert sum(plotted("jobs")) == sum(point["jobs"] for point in series) >= 2  # completed and failed
    assert plotted("duration") == [p["avg_duration_ms"] for p in series if p["avg_duration_ms"] is not None]
    assert plotted("success") == [p["success_rate"] for p in series if p["success_rate"] is not None]
    percentiles = api.get("/v1/workspace/percentiles").json()["percentiles"]
    assert page.locator('[data-percentile="p95"]').count() == 1 and percentiles["sample_size"] >= 1
    comparison = api.get("/v1/workspace/statistics/comparison", params={"range": "24h"}).json()["comparison"]
    expect(page.locator('#comparison [data-field="total"] .value')).to_have_text(str(comparison["total"]["current"]))
    health = api.get("/v1/workspace/health").json()
    for node in [health["workspace"], *health["stores"], *health["sources"]]:
        if node["reason"]:
            expect(page.locator("#health")).to_contain_text(node["reason"])
    shot(page, state, "07-overview")
    context.close()


# -- search ------------------------------------------------------------------------------------------------------
def test_search_returns_the_expected_document(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    page.set_default_navigation_timeout(SLOW_MS)
    page.goto("/search")
    page.fill("input[name=q]", "zebra handbook setup")
    page.keyboard.press("Enter")
    first = page.locator(".hit").first
    expect(first.locator(".path code")).to_have_text(state.tenant.document_path, timeout=SLOW_MS)
    expect(first).to_contain_text("Alpha guide")
    expect(page.locator("#latency")).to_contain_text(" ms")
    shot(page, state, "08-search")
    context.close()


# -- read key, CSRF ----------------------------------------------------------------------------------------------
def test_read_key_sees_no_mutations_and_forged_posts_are_refused(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state, role="read")
    for path in ("/jobs", "/repositories", "/activity"):
        page.goto(path)
        assert (
            page.locator("[data-cancel], [data-reindex], [data-detect], [data-connect-github], #connect-path").count()
            == 0
        )
    shot(page, state, "09-read-key-activity")
    queued = state.tenant.queued_run_id
    script = """async ([url, token]) => {
        const headers = token ? {"X-CSRF-Token": token} : {};
        const r = await fetch(url, {method: "POST", headers});
        return [r.status, await r.text()];
    }"""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    status, body = page.evaluate(script, [f"/console/jobs/{queued}/cancel", token])
    assert status == 403 and "read role" in body  # the server refuses a read key even with its token
    context.close()

    context, page = signed_in(browser, state)
    for url in (f"/console/jobs/{queued}/cancel", f"/console/repositories/{state.tenant.repository_id}/reindex"):
        status, body = page.evaluate(script, [url, None])
        assert status == 403 and "CSRF" in body
        status, _ = page.evaluate(script, [url, "forged-token"])
        assert status == 403
    assert state.api().get(f"/v1/jobs/{queued}").json()["status"] == "queued"
    context.close()


# -- mutations, live ---------------------------------------------------------------------------------------------
def test_cancel_a_queued_job_with_confirmation(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    page.goto("/jobs")
    queued = state.tenant.queued_run_id
    row = page.locator(f'#jobs tr[data-run-id="{queued}"]')
    expect(row).to_have_attribute("data-status", "queued")
    row.locator("[data-cancel]").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    shot(page, state, "10-jobs-cancel-confirm")
    dialog.locator('button[value="no"]').click()  # keeping it changes nothing
    expect(dialog).to_be_hidden()
    assert state.api().get(f"/v1/jobs/{queued}").json()["status"] == "queued"
    row.locator("[data-cancel]").click()
    dialog.locator('button[value="yes"]').click()
    expect(row).to_have_attribute("data-status", "cancelled")
    expect(row.locator("[data-cancel]")).to_have_count(0)
    job = state.api().get(f"/v1/jobs/{queued}").json()
    assert job["status"] == "cancelled"
    activity = state.api().get("/v1/activity", params={"type": "job.cancelled"}).json()["activity"]
    assert activity[0]["run_id"] == queued and activity[0]["actor"] == "alpha-admin"
    shot(page, state, "11-jobs-cancelled")
    context.close()


def test_reindex_shows_the_new_job_live_until_it_completes(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    page.set_default_timeout(SLOW_MS)
    timeline = context.new_page()
    timeline.goto("/activity")
    expect(timeline.locator("#live")).to_have_text("live")
    page.goto("/repositories")
    shot(page, state, "12-repositories")
    page.locator(f'tr[data-repository="{state.tenant.repository_id}"] [data-reindex]').click()
    new_row = page.locator("#recent-jobs tbody tr.fresh")
    expect(new_row).to_have_count(1, timeout=SLOW_MS)  # the request returns once `lightfast ingest` made its run
    run_id = new_row.get_attribute("data-run-id")
    live_entry = timeline.locator(f'[data-key="run:{run_id}"]')
    expect(live_entry).to_have_count(1)  # appeared on the timeline without a reload
    expect(live_entry).to_have_attribute("data-status", "success", timeout=240_000)
    expect(new_row).to_have_attribute("data-status", "completed", timeout=60_000)
    assert state.api().get(f"/v1/jobs/{run_id}").json()["status"] == "completed"
    shot(page, state, "13-repositories-reindexed")
    shot(timeline, state, "14-activity-live")
    context.close()


# -- sessions and hostile input over plain HTTP -------------------------------------------------------------------
def http_session(state: State, name: str) -> httpx.Client:
    client = httpx.Client(base_url=state.server.url, timeout=120)
    response = client.post("/signin", data={"key": state.tenant.keys[name], "next": "//evil.example/"})
    assert response.status_code == 303 and response.headers["location"] == "/activity"  # no open redirect
    return client


def test_revoking_the_key_ends_its_sessions(state: State) -> None:
    from lightfast_pipeline.keys.service import revoke_key

    client = http_session(state, "revocable")
    assert client.get("/activity").status_code == 200
    with state.runtime.session() as session:
        revoke_key(session, state.tenant.key_ids["revocable"], actor="tester")
    gone = client.get("/activity")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")
    assert client.get("/console/activity/export").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/activity?cursor=garbage",
        "/activity?status=bogus&type=Not+A+Type&source=svn",
        "/activity?q=" + "%00%ff" * 50,
        "/jobs?status=nope&trigger=%00&cursor=x",
        "/jobs?cursor=" + "a" * 100,
        "/repositories?installation=abc",
        "/overview?range=forever",
        "/search?q=%20&top_k=0",
        "/search?q=" + "x" * 3000,
        "/console/jobs/%2e%2e",
        "/console/jobs/no-such-run",
        "/console/activity/export?format=xml",
        "/signin?next=" + "%ff" * 10,
    ],
)
def test_bad_input_never_answers_5xx(state: State, path: str) -> None:
    client = http_session(state, "read")
    response = client.get(path)
    assert response.status_code < 500, (path, response.status_code, response.text[:300])
    forged = client.post("/console/repositories", json={"path": "/"})
    assert forged.status_code == 403

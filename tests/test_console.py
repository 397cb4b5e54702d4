"""The console in a real browser: Debian's Chromium driven by Playwright against `lightfast serve` started as a
subprocess over a state built here (an ingested repository, a completed, a failed and a queued job, a webhook
delivery, activity, a GitHub App installation served by the local GitHub server). Each page's screenshot is
written to a folder printed at the start of the module."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright
from sqlalchemy import select

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import Repository, SourceType, Workspace
from lightfast_pipeline.console.render import duration
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
from tests.support.github_fixtures import APP_ID, WEBHOOK_SECRET, app_key_pair
from tests.support.github_fixtures import GitRepo as GitHubRepo
from tests.support.github_server import GitHubServer
from tests.support.ingest import ingest

TIMEOUT_MS = 60_000  # the machine is shared: generous
expect.set_options(timeout=TIMEOUT_MS)
SLOW_MS = 300_000  # a search's first model load, a reindex's `lightfast ingest` process start
INSTALLATION = 7  # the GitHub App installation on account "alpha-org"


@dataclass
class State:
    server: ApiServer
    runtime: Runtime
    tenant: Tenant
    failed_run_id: str
    broken_name: str
    shots: Path
    github: GitHubServer
    github_repos: dict[str, GitHubRepo]

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


def _github(root: Path) -> tuple[GitHubServer, dict[str, GitHubRepo], dict[str, str]]:
    """The local GitHub server with one installation: a repository with a `lightfast.yml`, one without."""
    private, public = app_key_pair()
    github = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    github.add_installation(INSTALLATION, "alpha-org", repository_selection="selected")
    repos = {}
    for repo_id, (name, files) in enumerate(
        [
            ("alpha-org/guide", {"docs/index.md": "# Guide\n\ntext\n", "lightfast.yml": CONFIG}),
            ("alpha-org/notes", {"docs/index.md": "# Notes\n\nno config yet\n"}),
        ],
        start=701,
    ):
        repos[name] = GitHubRepo(root / name.replace("/", "-"))
        repos[name].commit(files)
        github.add_repository(name, repos[name].path, repo_id=repo_id, installation_id=INSTALLATION)
    env = {
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_PRIVATE_KEY": private,
        "GITHUB_API_URL": github.url,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    return github, repos, env


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    root = tmp_path_factory.mktemp("console")
    # under the test's tmp dir; LIGHTFAST_SCREENSHOTS keeps them elsewhere (pytest prunes old tmp dirs)
    shots = Path(os.environ.get("LIGHTFAST_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {shots}")
    github, github_repos, github_env = _github(root)
    env = api_environment(root / "lightfast") | github_env
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
            yield State(server, runtime, tenant, failed_run_id, broken_name, shots, github, github_repos)
        finally:
            server.stop()
            runtime.instance.dispose()
            github.stop()


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


def test_type_filter_and_older_pages_by_cursor_match_the_api(browser: Browser, state: State) -> None:
    with state.runtime.session() as session:
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == "alpha"))
        for second in range(60):  # more rows of one type than a page holds, long ago
            at = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=second // 2)  # pairs share an instant
            record_activity(
                session, action=actions.STORE_REBUILT, entity_type="store", workspace_id=workspace_id, at=at
            )
    api = state.api()
    first = api.get("/v1/activity", params={"type": "store", "limit": 50}).json()
    second = api.get("/v1/activity", params={"type": "store", "limit": 50, "cursor": first["next_cursor"]}).json()
    context, page = signed_in(browser, state)
    page.select_option("select[name=type]", "store")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"type=store"))
    assert statuses_on_page(page) == api_keys(first["activity"]) and len(first["activity"]) == 50
    page.click('a[rel="next"]:has-text("Older")')
    expect(page).to_have_url(re.compile(r"type=store&cursor="))
    assert statuses_on_page(page) == api_keys(second["activity"]) and len(second["activity"]) >= 10
    expect(page.locator("#live")).to_have_count(0)  # an older page is no live view
    shot(page, state, "04b-activity-older")
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


def test_jobs_filters_match_the_api(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    page.goto("/jobs")
    page.select_option("select[name=status]", "failed")
    page.click('form.filters button:has-text("Apply")')
    expect(page).to_have_url(re.compile(r"status=failed"))
    rows = page.locator("#jobs tbody tr")
    shown = {
        rows.nth(i).get_attribute("data-run-id"): rows.nth(i).get_attribute("data-status") for i in range(rows.count())
    }
    failed = state.api().get("/v1/jobs", params={"status": "failed"}).json()["jobs"]
    assert shown == {job["id"]: "failed" for job in failed} and state.failed_run_id in shown
    page.select_option("select[name=status]", "")
    page.select_option("select[name=repository]", state.tenant.repository_uid)
    page.click('form.filters button:has-text("Apply")')
    expect(page).to_have_url(re.compile(r"repository="))
    shown = set(page.locator("#jobs tbody tr").evaluate_all("rows => rows.map(row => row.dataset.runId)"))
    listed = state.api().get("/v1/jobs", params={"repository": state.tenant.repository_uid}).json()["jobs"]
    assert shown == {job["id"] for job in listed} and state.failed_run_id not in shown
    shot(page, state, "09b-jobs-filtered")
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
    job = state.api().get(f"/v1/jobs/{run_id}").json()
    assert job["status"] == "completed" and job["duration_ms"] is not None
    # the finished job's duration arrived with its status, on both pages, without a reload
    expect(new_row.locator(".duration")).to_have_text(duration(job["duration_ms"]))
    expect(live_entry.locator(".impact")).to_contain_text(f"duration {duration(job['duration_ms'])}")
    shot(page, state, "13-repositories-reindexed")
    shot(timeline, state, "14-activity-live")
    context.close()


def write_alpha_activity(state: State, message: str) -> str:
    """A config-detected activity row in workspace alpha, committed; its timeline key."""
    with state.runtime.session() as session:
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == "alpha"))
        row = record_activity(
            session,
            action=actions.CONFIG_DETECTED,
            entity_type="workspace",
            actor="tester",
            workspace_id=workspace_id,
            message=message,
        )
        session.flush()
        return f"activity:{row.id}"


def test_a_new_activity_row_is_on_screen_without_a_reload(browser: Browser, state: State) -> None:
    """Prints the write-to-screen latency (the benchmark's figure; not asserted: the machine is shared)."""
    context, page = signed_in(browser, state)
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate(SEEN_SCRIPT)
    key = write_alpha_activity(state, "written by the live test")
    written = time.time()
    entry = page.locator(f'#timeline > li.entry[data-key="{key}"]')
    expect(entry).to_contain_text("written by the live test")
    expect(page.locator("#timeline > li.entry").first).to_have_attribute("data-key", key)
    seen = page.evaluate("key => window.lightfastSeen[key]", key) / 1000
    print(f"\nnew activity row on screen {seen - written:.2f} s after its commit")
    shot(page, state, "15-activity-new-row")
    context.close()


def test_a_row_written_between_render_and_stream_connect_still_arrives(browser: Browser, state: State) -> None:
    """The stream starts with the page's newest entries, so nothing written in the gap before it connects is lost."""
    context, page = signed_in(browser, state)
    written: list[str] = []

    def write_then_connect(route: Route) -> None:
        if not written:  # the page is rendered; its stream has not reached the server yet
            written.append(write_alpha_activity(state, "written before the stream connected"))
        route.continue_()

    page.route("**/console/activity/stream*", write_then_connect)
    page.reload()
    expect(page.locator("#live")).to_have_text("live")
    assert written, "the page opened no stream"
    entry = page.locator(f'#timeline > li.entry[data-key="{written[0]}"]')
    expect(entry).to_contain_text("written before the stream connected")
    expect(page.locator("#timeline > li.entry").first).to_have_attribute("data-key", written[0])
    keys = [row.get_attribute("data-key") for row in page.locator("#timeline > li.entry").all()]
    assert len(keys) == len(set(keys)), "a row the page showed was added twice"
    context.close()


# A MutationObserver noting when each timeline row enters the DOM (Date.now(): the same clock as time.time()).
SEEN_SCRIPT = """() => {
    window.lightfastSeen = {};
    new MutationObserver((changes) => {
        for (const change of changes) for (const node of change.addedNodes) {
            if (node.dataset && node.dataset.key && !(node.dataset.key in window.lightfastSeen)) {
                window.lightfastSeen[node.dataset.key] = Date.now();
            }
        }
    }).observe(document.getElementById("timeline"), {childList: true});
}"""


def test_github_installation_repositories_connect_and_detect_config(browser: Browser, state: State) -> None:
    context, page = signed_in(browser, state)
    api = state.api()
    page.goto("/repositories")
    page.select_option("select[name=installation]", str(INSTALLATION))
    page.click('button:has-text("Show repositories")')
    expect(page).to_have_url(re.compile(rf"installation={INSTALLATION}$"))
    listed = api.get(f"/v1/github/installations/{INSTALLATION}/repositories").json()["repositories"]
    assert {r["full_name"]: r["connected"] for r in listed} == {"alpha-org/guide": False, "alpha-org/notes": False}
    candidates = page.locator("ul.candidates > li")
    expect(candidates).to_have_count(2)
    for repository in listed:
        expect(candidates.filter(has_text=repository["full_name"]).locator("[data-connect-github]")).to_have_count(1)
    shot(page, state, "16-repositories-github-installation")

    for name in ("alpha-org/guide", "alpha-org/notes"):
        page.locator(f'[data-connect-github="{name}"]').click()  # connects, then reloads the page
        item = page.locator("ul.candidates > li", has_text=name)
        expect(item.locator(".badge.status-success")).to_have_text("connected")
        expect(item.locator("[data-connect-github]")).to_have_count(0)
    listed = api.get(f"/v1/github/installations/{INSTALLATION}/repositories").json()["repositories"]
    assert all(repository["connected"] for repository in listed)
    ids = {r["name"]: r["id"] for r in api.get("/v1/repositories").json()["repositories"]}
    guide = page.locator(f'tr[data-repository="{ids["alpha-org/guide"]}"]')
    notes = page.locator(f'tr[data-repository="{ids["alpha-org/notes"]}"]')
    expect(guide.locator(".config .badge")).to_have_text("configured")  # detected when connected
    expect(notes.locator(".config .badge")).to_have_text("unconfigured")
    shot(page, state, "17-repositories-github-connected")

    # Detect config reads lightfast.yml at the branch head: added, then broken
    state.github_repos["alpha-org/notes"].commit({"lightfast.yml": CONFIG})
    notes.locator("[data-detect]").click()
    expect(notes.locator(".config .badge")).to_have_text("configured")
    assert api.get(f"/v1/repositories/{ids['alpha-org/notes']}").json()["config_status"] == "configured"
    state.github_repos["alpha-org/notes"].commit({"lightfast.yml": "version: [1\n"})
    notes.locator("[data-detect]").click()
    expect(notes.locator(".config .badge")).to_have_text("error")
    stored = api.get(f"/v1/repositories/{ids['alpha-org/notes']}").json()
    assert stored["config_status"] == "error" and stored["config_error"]
    expect(notes.locator(".config .error")).to_have_text(stored["config_error"])
    shot(page, state, "18-repositories-detect-config")
    detected = api.get("/v1/activity", params={"type": "config.detected", "search": "alpha-org/notes"}).json()
    assert len(detected["activity"]) >= 3  # on connect, then each Detect config
    context.close()


def test_connect_a_local_path(browser: Browser, state: State, tmp_path: Path) -> None:
    """The server runs with --allow-local-paths: a git directory on it connects, its config detected."""
    repo = GitRepo(tmp_path / "local-handbook")
    repo.write("lightfast.yml", CONFIG)
    repo.write("docs/a.md", "# Local\n\nhandbook\n")
    repo.commit("docs")
    api = state.api()
    before = {r["id"] for r in api.get("/v1/repositories").json()["repositories"]}
    context, page = signed_in(browser, state)
    page.goto("/repositories")
    page.fill("#connect-path input[name=path]", str(repo.path))
    page.click("#connect-path button[type=submit]")  # connects, then reloads the page
    new = page.locator("table.repositories tbody tr").filter(has_text="local-handbook")
    expect(new).to_have_count(1)
    (added,) = [r for r in api.get("/v1/repositories").json()["repositories"] if r["id"] not in before]
    assert added["source_type"] == "local" and added["config_status"] == "configured"
    expect(new).to_have_attribute("data-repository", str(added["id"]))
    expect(new.locator(".config .badge")).to_have_text("configured")
    page.fill("#connect-path input[name=path]", str(tmp_path / "no-such-directory"))
    page.click("#connect-path button[type=submit]")
    expect(page.locator("#toast.error")).to_be_visible()  # refused, said on the page
    shot(page, state, "19-repositories-local-path")
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

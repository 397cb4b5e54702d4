"""Benchmark: the console's activity page over 100,000 activity rows and 100,000 runs, and live-row latency.

Usage: ``.venv/bin/python -m benchmarks.console [--rows 100000] [--runs 100000] [--requests 100] [--postgres]``

Builds a throwaway home (SQLite catalog and run storage as `lightfast dev` uses, or with ``--postgres`` a
throwaway PostgreSQL server with ``deploy/dagster.yaml``'s storage), inserts the activity rows in
bulk (``tests.support.activity_data``) and the runs straight into Dagster's run tables (``benchmarks.jobs``),
starts `lightfast serve` as a subprocess, signs in with an admin key, then:

1. A new activity row on screen: Debian's Chromium (Playwright) keeps the activity page open; an activity row is
   written to the catalog, and the time from its commit until its row enters the page's DOM (a MutationObserver
   notes ``Date.now()``, the clock ``time.time()`` reads) is measured (10 rows). Goal <= 2 s.
2. ``GET /activity`` (first page of 50 rows, the 'failure' filter, a page 20 cursors deep, two text searches):
   ``--requests`` requests each after a warm-up; the server's own time (``Server-Timing: app``) and the
   client's wall time, p50/p95/max, and the CPU time per request of the server process and of the database
   server (PostgreSQL; its processes' CPU, read from /proc): CPU time is what load does not inflate. Goal: p95
   <= 300 ms. Then, for comparison, the API's ``GET /v1/activity`` (the same timeline service without the
   console).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks.jobs import insert_runs
from tests.support.activity_data import generate_activity, seed_catalog
from tests.support.api_server import api_environment, environment, start_server
from tests.support.browser import chromium_path, launch_args

PAGE_CASES = {
    "first page": "/activity",
    "failures": "/activity?status=failure",
    "search (repository)": "/activity?q=handbook",
    "search (user)": "/activity?q=bench",
}
SEEN_SCRIPT = """() => {
    window.lightfastSeen = {};
    new MutationObserver((changes) => {
        for (const change of changes) for (const node of change.addedNodes) {
            if (node.dataset && node.dataset.key) window.lightfastSeen[node.dataset.key] = Date.now();
        }
    }).observe(document.getElementById("timeline"), {childList: true});
}"""


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def admin_key() -> str:
    """A new admin key of workspace acme."""
    from lightfast_pipeline.keys.service import create_key
    from lightfast_pipeline.runtime import Runtime

    runtime = Runtime()
    with runtime.session() as session:
        _, key = create_key(session, workspace="acme", role="admin", name="bench", actor="bench")
    runtime.instance.dispose()
    return key


def seed(rows: int, runs: int) -> None:
    """The catalog, activity rows and run history."""
    from lightfast_pipeline.runtime import Runtime

    runtime = Runtime()
    began = time.perf_counter()
    with runtime.session() as session:
        catalog = seed_catalog(session)
        end = datetime.now(UTC) - timedelta(minutes=1)
        generate_activity(session, catalog, rows, end - timedelta(days=30), end)
    insert_runs(runtime.instance, runs)
    print(f"seeded {rows:,} activity rows and {runs:,} runs in {time.perf_counter() - began:.0f} s")
    runtime.instance.dispose()


def sign_in(url: str, key: str) -> httpx.Client:
    """An httpx client holding a console session cookie."""
    client = httpx.Client(base_url=url, timeout=60)
    response = client.post("/signin", data={"key": key, "next": "/activity"})
    assert response.status_code == 303, response.text
    return client


def cpu_seconds(root: int | None) -> float:
    """User + system CPU seconds of process ``root`` and its descendants (0 when None)."""
    if root is None:
        return 0.0
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        if pid in stats:  # utime, stime, and cutime, cstime: exited children (PostgreSQL's parallel workers)
            total += sum(int(value) for value in stats[pid][11:15])
        pending.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def page_times(client: httpx.Client, path: str, requests: int) -> tuple[list[float], list[float]]:
    """Server (Server-Timing app) and client ms of ``requests`` GETs after one warm-up."""
    client.get(path).raise_for_status()
    server, wall = [], []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(path)
        wall.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
        match = re.search(r"app;dur=([0-9.]+)", response.headers.get("server-timing", ""))
        server.append(float(match.group(1)) if match else wall[-1])
    return server, wall


def live_latency(url: str, key: str, samples: int = 10) -> list[float]:
    """Seconds from an activity row's commit to its row in the open activity page's DOM."""
    from playwright.sync_api import sync_playwright

    from lightfast_pipeline.activity import actions
    from lightfast_pipeline.activity.log import record_activity
    from lightfast_pipeline.catalog.models import Workspace
    from lightfast_pipeline.runtime import Runtime

    runtime = Runtime()
    with runtime.session() as session:
        workspace_id = session.query(Workspace).filter_by(slug="acme").one().id
    latencies = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=launch_args())
        page = browser.new_page(base_url=url)
        page.set_default_timeout(60_000)
        page.goto("/signin")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_selector("#live.on")
        page.evaluate(SEEN_SCRIPT)
        for index in range(samples):
            with runtime.session() as session:
                row = record_activity(
                    session,
                    action=actions.CONFIG_DETECTED,
                    entity_type="workspace",
                    actor="bench",
                    workspace_id=workspace_id,
                    message=f"live {index}",
                )
                session.flush()
                row_id = row.id
            written = time.time()
            key = f"activity:{row_id}"
            page.wait_for_selector(f'[data-key="{key}"]', state="attached", timeout=30_000)
            latencies.append(page.evaluate("key => window.lightfastSeen[key]", key) / 1000 - written)
            time.sleep(0.3)
        browser.close()
    return latencies


def main() -> None:
    """Seed, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--home", type=Path, help="Reuse the SQLite state seeded by an earlier run in this directory.")
    parser.add_argument("--postgres", action="store_true", help="Catalog and run storage on PostgreSQL (deploy/).")
    arguments = parser.parse_args()
    home = arguments.home or Path(tempfile.mkdtemp(prefix="lightfast-console-bench-"))
    with ExitStack() as stack:
        env, database_pid = api_environment(home / "lightfast"), None
        if arguments.postgres:
            env, database_pid = postgres_environment(stack, home)
        stack.enter_context(environment(env))
        run(arguments, home, database_pid)


def postgres_environment(stack: ExitStack, home: Path) -> tuple[dict[str, str], int]:
    """A throwaway PostgreSQL server for the catalog and Dagster's storage (``deploy/dagster.yaml``), and the
    pid of its postmaster."""
    from tests.support import postgres

    server = postgres.start_server()
    stack.callback(server.stop)
    url = postgres.create_database(server.url, "console_bench").render_as_string(hide_password=False)
    env = {**api_environment(home / "lightfast", url), **postgres.deploy_environment(url)}
    postgres.write_deploy_instance(Path(env["DAGSTER_HOME"]))
    return env, int((server.data_dir / "postmaster.pid").read_text().split()[0])


def load() -> str:
    """The 1-minute load average, as `uptime` prints it."""
    return f"{os.getloadavg()[0]:.1f}"


def run(arguments: argparse.Namespace, home: Path, database_pid: int | None) -> None:
    """Seed (unless reusing a home), serve, measure, print."""
    if arguments.home is None:
        seed(arguments.rows, arguments.runs)
    key = admin_key()
    print(f"state in {home}")
    limits = ("--rate-limit", "100000", "--burst", "10000")
    server = start_server(dict(os.environ), home / "serve.log", *limits, wait=900)
    try:
        print(f"load average {load()}")
        seconds = live_latency(server.url, key)
        verdict = "ok" if max(seconds) <= 2 else "OVER GOAL"
        print(
            f"new activity row on screen (s): p50 {statistics.median(seconds):.2f}  max {max(seconds):.2f}  {verdict}"
            f"  (load {load()})"
        )
        client = sign_in(server.url, key)
        cursor_page = "/activity"
        for _ in range(20):
            cursor = re.search(r'cursor=([A-Za-z0-9_-]+)"', client.get(cursor_page).text)
            cursor_page = f"/activity?cursor={cursor.group(1)}" if cursor else cursor_page
        cases = {**PAGE_CASES, "20 pages deep": cursor_page}
        print(f"GET /activity, {arguments.requests} requests each (ms; CPU ms per request: server | database):")
        for label, path in cases.items():
            cpu = cpu_seconds(server.process.pid), cpu_seconds(database_pid)
            server_ms, wall_ms = page_times(client, path, arguments.requests)
            per_request = [
                (after - before) * 1000 / (arguments.requests + 1)  # + the warm-up
                for before, after in zip(cpu, (cpu_seconds(server.process.pid), cpu_seconds(database_pid)), strict=True)
            ]
            verdict = "ok" if percentile(server_ms, 95) <= 300 else "OVER GOAL"
            print(
                f"  {label:<22} server p50 {statistics.median(server_ms):6.1f}"
                f"  p95 {percentile(server_ms, 95):6.1f}"
                f"  max {max(server_ms):6.1f} | client p50 {statistics.median(wall_ms):6.1f}"
                f"  p95 {percentile(wall_ms, 95):6.1f} | CPU {per_request[0]:5.1f} | {per_request[1]:5.1f}"
                f"  load {load()}   {verdict}"
            )
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        api.get("/v1/activity").raise_for_status()
        samples = []
        for _ in range(arguments.requests):
            began = time.perf_counter()
            api.get("/v1/activity", params={"limit": 50}).raise_for_status()
            samples.append((time.perf_counter() - began) * 1000)
        print(
            f"  {'API /v1/activity (same service)':<22} client p50 {statistics.median(samples):6.1f}"
            f"  p95 {percentile(samples, 95):6.1f}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""Benchmark: the webhook receiver and the delivery → sync path.

1. Acknowledgement latency of ``lightfast webhooks serve`` (a subprocess) under an open-loop load of signed
   push deliveries on loopback (default 200 requests/s for 10 s; goal p99 <= 50 ms, none lost).
2. On the embedded default (local MiniLM + LanceDB), with ``dagster-daemon`` running the real sensors and the
   warm embedding service started as ``lightfast dev`` starts it: the time from a delivery stored to its run
   started, and to its new document searchable (goal p95 <= 15 s), with where the time went (sensor → run
   created, queue + run worker start, run). ``--cold-model`` leaves the service out: each run loads the model.
   The repository is served by the local GitHub server of the tests (a real git repository).

Usage: ``.venv/bin/python -m benchmarks.webhooks [--rate 200] [--seconds 10] [--pushes 20] [--skip-sync]
[--cold-model]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.support.github_fixtures import (
    APP_ID,
    GitRepo,
    app_key_pair,
    delivery_headers,
    encode,
    load_webhook,
    retarget,
)
from tests.support.github_server import GitHubServer
from tests.support.gitrepo import DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "bench-secret"
REPO_ID, FULL_NAME = 990001, "bench/handbook"
PUSH_BYTES = len(encode(retarget(load_webhook("push.modified.json"), repo_id=REPO_ID, full_name=FULL_NAME)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("receiver did not become healthy")


async def load(url: str, rate: float, seconds: float) -> tuple[list[float], list[int], list[str]]:
    """Open-loop load: request i is sent at t0 + i/rate whatever the previous ones are doing."""
    body = encode(retarget(load_webhook("push.modified.json"), repo_id=REPO_ID, full_name=FULL_NAME))
    latencies: list[float] = []
    statuses: list[int] = []
    ids: list[str] = []
    # A new connection per delivery, as GitHub sends them (and no race with the server's keep-alive timeout).
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one(delivery_id: str) -> None:
            headers = delivery_headers("push", body, delivery_id=delivery_id, secret=SECRET)
            started = time.perf_counter()
            try:
                response = await client.post("/webhooks/github", content=body, headers=headers)
            except httpx.TransportError:
                statuses.append(0)  # counted as not acknowledged
                return
            latencies.append((time.perf_counter() - started) * 1000)
            statuses.append(response.status_code)

        tasks = []
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            ids.append(str(uuid.uuid4()))
            tasks.append(asyncio.create_task(one(ids[-1])))
        await asyncio.gather(*tasks)
    return latencies, statuses, ids


def ack_latency(url: str, rate: float, seconds: float) -> None:
    from sqlalchemy import func, select

    from lightfast_pipeline.catalog.models import WebhookDelivery
    from lightfast_pipeline.runtime import Runtime

    latencies, statuses, ids = asyncio.run(load(url, rate, seconds))
    with Runtime().session() as session:
        stored = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.delivery_id.in_(ids))
        )
    accepted = statuses.count(202)
    print(f"ack latency at {rate:.0f} req/s for {seconds:.0f} s ({len(ids)} signed pushes of {PUSH_BYTES} B)")
    print(
        f"  p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms  "
        f"max {max(latencies):.1f} ms  mean {statistics.mean(latencies):.1f} ms"
    )
    print(f"  202: {accepted}/{len(ids)}  stored: {stored}/{len(ids)}  lost: {len(ids) - stored}")


def sync_latency(url: str, server: GitHubServer, repo: GitRepo, pushes: int) -> None:
    from dagster import DagsterInstance, RunsFilter
    from sqlalchemy import func, select

    from lightfast_pipeline import tags
    from lightfast_pipeline.catalog.models import DeliveryStatus, Repository, WebhookDelivery
    from lightfast_pipeline.github.connect import connect_github_repository
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.search.query import search

    runtime = Runtime()
    instance = DagsterInstance.get()
    repository_id = connect_github_repository(runtime, FULL_NAME, None, None, "bench").id
    started = time.monotonic()
    while True:  # initial sync requested by the lifecycle sensor and run by the daemon
        with runtime.session() as session:
            if session.get(Repository, repository_id).last_ingested_commit:
                break
        if time.monotonic() - started > 300:
            raise RuntimeError("initial sync did not finish (see daemon.log)")
        time.sleep(0.5)
    print(f"initial sync done in {time.monotonic() - started:.1f} s (connect → lifecycle sensor → run)")
    while True:  # the acknowledgement phase's deliveries are decided first: the pushes measured start from idle
        with runtime.session() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.RECEIVED.value)
            )
        if not pending:
            break
        time.sleep(0.5)
    runtime.embedder.embed_query("warm up")  # the searching process loads its model once

    to_run, to_search, to_created = [], [], []
    for n in range(pushes):
        word = f"zebracorn{n}x{uuid.uuid4().hex[:6]}"
        before = repo.head()
        repo.commit({f"docs/new-{n}.md": f"# Note {n}\n\nThe {word} appears in this page only.\n"})
        payload = retarget(load_webhook("push.modified.json"), repo_id=REPO_ID, full_name=FULL_NAME)
        payload.update(ref="refs/heads/main", before=before, after=repo.head())
        body = encode(payload)
        headers = delivery_headers("push", body, secret=SECRET)
        assert httpx.post(f"{url}/webhooks/github", content=body, headers=headers).status_code == 202
        delivery_id = headers["X-GitHub-Delivery"]
        with runtime.session() as session:
            stored = session.scalars(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)).one()
            stored_at = stored.received_at.timestamp()
        run_created = run_started = searchable = None
        deadline = time.time() + 300
        while (run_started is None or searchable is None) and time.time() < deadline:
            if run_started is None:
                records = instance.get_run_records(RunsFilter(tags={tags.DELIVERY: delivery_id}))
                if records and records[0].start_time:
                    run_started = records[0].start_time
                    run_created = records[0].create_timestamp.timestamp()
            if searchable is None:
                # The pages differ by one made-up word, which a semantic model barely separates: "searchable"
                # means the new page is returned among the top results, not necessarily first.
                hits = search(runtime, word, None, top_k=10).results
                if f"docs/new-{n}.md" in {hit.path for hit in hits}:
                    searchable = time.time()
            time.sleep(0.2)
        if run_started is None or searchable is None:
            raise RuntimeError(f"push {n} not searchable within 300 s (see daemon.log)")
        to_created.append(run_created - stored_at)
        to_run.append(run_started - stored_at)
        to_search.append(searchable - stored_at)
        print(
            f"  push {n}: run created +{to_created[-1]:.1f} s, started +{to_run[-1]:.1f} s, "
            f"searchable +{to_search[-1]:.1f} s"
        )
        while not all(r.dagster_run.is_finished for r in instance.get_run_records(RunsFilter())):
            time.sleep(0.2)
    for label, values in (("run created", to_created), ("run started", to_run), ("searchable ", to_search)):
        p50, p95 = percentile(values, 50), percentile(values, 95)
        print(f"delivery stored → {label}: p50 {p50:.1f} s  p95 {p95:.1f} s  max {max(values):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--cold-model", action="store_true", help="no embedding service: each run loads the model")
    parser.add_argument("--port", type=int, default=18787)
    parser.add_argument("--skip-sync", action="store_true", help="only measure the acknowledgement latency")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lightfast-bench-webhooks-"))
    private, public = app_key_pair()
    server = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    repo = GitRepo(home / "handbook")
    repo.commit({"lightfast.yml": DEFAULT_CONFIG, "docs/intro.md": "# Intro\n\nWelcome to the handbook.\n"})
    server.add_repository(FULL_NAME, repo.path, repo_id=REPO_ID)
    env = {
        **os.environ,
        "LIGHTFAST_HOME": str(home / "lightfast"),
        "DAGSTER_HOME": str(home / "lightfast" / "dagster"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_PRIVATE_KEY": private,
        "GITHUB_API_URL": server.url,
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    (home / "lightfast" / "dagster").mkdir(parents=True)
    url = f"http://127.0.0.1:{args.port}"
    receiver = start(
        [str(BIN / "lightfast"), "webhooks", "serve", "--port", str(args.port)], env, home / "receiver.log"
    )
    processes = [receiver]
    try:
        wait_healthy(url)
        ack_latency(url, args.rate, args.seconds)
        if not args.skip_sync:
            workspace = str(ROOT / "workspace.yaml")
            if not args.cold_model:  # as `lightfast dev` starts it
                serve = [str(BIN / "lightfast"), "embedder", "serve", "--exit-with-pid", str(os.getpid())]
                processes.append(start(serve, env, home / "embedder.log"))
            from dagster import DagsterInstance

            DagsterInstance.get()  # its storage created once, before the daemon shares it (as `lightfast dev` does)
            processes.append(start([str(BIN / "dagster-daemon"), "run", "-w", workspace], env, home / "daemon.log"))
            sync_latency(url, server, repo, args.pushes)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        server.stop()
        print(f"logs in {home}")


if __name__ == "__main__":
    main()

"""Benchmark: many repositories pushed to within one minute on the production deployment (issue 15 item 5).

What production runs (tests/support/fleet.py): PostgreSQL for Dagster's storage and the catalog,
``dagster-daemon`` on deploy/dagster.yaml and deploy/workspace.yaml (the run queue with its concurrency limits,
the sensors, both code locations), ``lightfast webhooks serve``, and the local GitHub server serving one real
git repository per repository. Every repository is connected and indexed first (in this process); then each
receives one push — a commit adding a page with a word found nowhere else, then its signed push delivery
POSTed to the receiver — the pushes spread evenly over ``--window`` seconds.

Measured: every repository indexed at its new head and its index equal to its ledger (index truth); duplicate
runs (two runs planned from the same head of one repository, or more runs than pushes); queue throughput;
time from push to searchable (a hybrid search returns the new page) per repository, p50/p95/max, with push →
run created / started / indexed; the run queue's limits and the concurrency seen; the machine's load average.
Runs embed with the hashing test embedder: embedding cost is not what this measures.

Usage: ``PYTHONPATH=. .venv/bin/python -m benchmarks.fleet [--repos 100] [--window 60]
[--max-concurrent-runs 4] [--timeout 1800] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from dagster import RunsFilter
from sqlalchemy.engine import make_url

from tests.support.fleet import Fleet, Push, RunRow, fleet
from tests.support.ingest import assert_store_equals_ledger
from tests.support.postgres import URL_VARIABLE, start_server


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values, default=None)}


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = best = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def push_all(f: Fleet, window: float, pushes: list[Push]) -> None:
    """One push per repository, evenly spread over ``window`` seconds (appended as they are acknowledged)."""
    start = time.monotonic()
    count = len(f.members)
    for index in range(count):
        time.sleep(max(0.0, start + index * window / count - time.monotonic()))
        pushes.append(f.push(index))


def watch(f: Fleet, pushes: list[Push], total: int, timeout: float, loads: list[float]) -> tuple[dict, dict]:
    """Poll until every push is searchable: delivery id → time indexed (catalog) and time found by search."""
    indexed: dict[str, float] = {}
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        idle = len(pushes) == total and not f.busy()  # then this pass sees the final state
        heads = f.indexed_heads()
        for push in list(pushes):
            if push.delivery_id in found or heads.get(push.member) != push.sha:
                continue
            indexed.setdefault(push.delivery_id, time.time())
            if f.finds(push):
                found[push.delivery_id] = time.time()
        loads.append(os.getloadavg()[0])
        if len(found) == total or idle:
            break
        time.sleep(0.25)
    return indexed, found


def index_truth_failures(f: Fleet) -> list[str]:
    """Repositories whose store and ledger differ from each other or from the source at the ingested commit."""
    failures = []
    for member in f.members:
        try:
            assert_store_equals_ledger(f.runtime, member.repository_id)
        except AssertionError as error:
            failures.append(f"{member.full_name}: {error}")
    return failures


def report(f: Fleet, pushes: list[Push], indexed: dict, found: dict, runs: list[RunRow], loads: list[float]) -> dict:
    by_delivery = {run.delivery: run for run in runs if run.delivery}
    deliveries = f.deliveries([push.delivery_id for push in pushes])
    webhook_runs = [run for run in runs if run.trigger == "webhook"]
    finished = [run for run in webhook_runs if run.started and run.ended]
    heads = f.indexed_heads()
    pushed = {member.index: member.pushes for member in f.members}
    per_repository = Counter(run.repository_uid for run in runs)
    first_runs = Counter(run.repository_uid for run in runs if not run.retry_of)
    uid_pushes = {member.uid: member.pushes for member in f.members}
    others = [
        record
        for record in f.instance.get_run_records(RunsFilter())
        if record.create_timestamp.timestamp() >= f.started_at and record.dagster_run.job_name != "ingest_repository"
    ]
    span = (min(run.started for run in finished), max(run.ended for run in finished)) if finished else (0.0, 0.0)
    return {
        "repositories": len(f.members),
        "pushes": len(pushes),
        "push_window_s": round(pushes[-1].at - pushes[0].at, 1) if pushes else None,
        "indexed_at_new_head": sum(heads[index] == f.members[index].git.head() for index in pushed),
        "searchable": len(found),
        "index_truth_failures": index_truth_failures(f),
        "runs": {
            "webhook": len(webhook_runs),
            "all": len(runs),
            "by_status": dict(Counter(run.status for run in runs)),
            "by_trigger": dict(Counter(run.trigger for run in runs)),
            # A run whose launch failed read no head: it is not a duplicate, and its retry is not an extra run.
            "duplicate_heads": sum(
                n - 1 for n in Counter((r.repository_uid, r.head) for r in runs if r.head).values() if n > 1
            ),
            "more_runs_than_pushes": sum(max(0, n - uid_pushes[uid]) for uid, n in first_runs.items()),
            "automatic_retries": sum(1 for run in runs if run.retry_of),
            "other_jobs": dict(Counter(record.dagster_run.job_name for record in others)),
        },
        "deliveries": dict(Counter(status for status, _, _ in deliveries.values())),
        "queue": {
            **f.limits(),
            "max_running_seen": max_overlap([(run.started, run.ended) for run in finished]),
            "max_running_per_repository_seen": max(
                (
                    max_overlap([(r.started, r.ended) for r in finished if r.repository_uid == uid])
                    for uid in per_repository
                ),
                default=0,
            ),
            "throughput_runs_per_min": round(len(finished) / (span[1] - span[0]) * 60, 1) if finished else None,
            "drain_s": round(span[1] - pushes[0].at, 1) if finished else None,
        },
        "seconds_from_push": {
            "run_created": spread([run.created - p.at for p in pushes if (run := by_delivery.get(p.delivery_id))]),
            "run_started": spread(
                [
                    by_delivery[p.delivery_id].started - p.at
                    for p in pushes
                    if p.delivery_id in by_delivery and by_delivery[p.delivery_id].started
                ]
            ),
            "indexed": spread([indexed[p.delivery_id] - p.at for p in pushes if p.delivery_id in indexed]),
            "searchable": spread([found[p.delivery_id] - p.at for p in pushes if p.delivery_id in found]),
        },
        "run_seconds": spread([run.ended - run.started for run in finished]),
        "load_average_1min": {
            "mean": round(sum(loads) / len(loads), 1) if loads else None,
            "max": max(loads, default=None),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--window", type=float, default=60, help="seconds over which the pushes are spread")
    parser.add_argument("--max-concurrent-runs", type=int, default=4, help="LIGHTFAST_MAX_CONCURRENT_RUNS")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for every push to be searchable")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lightfast-bench-fleet-"))
    server = None if os.environ.get(URL_VARIABLE) else start_server()
    admin = server.url if server else make_url(os.environ[URL_VARIABLE]).set(drivername="postgresql+psycopg2")
    print(f"load average before: {os.getloadavg()}; state and logs in {home}")
    try:
        setup = time.monotonic()
        with fleet(home, admin, args.repos, max_concurrent_runs=args.max_concurrent_runs) as f:
            print(f"{args.repos} repositories connected and indexed, deployment up in {time.monotonic() - setup:.0f} s")
            pushes: list[Push] = []
            loads: list[float] = []
            pusher = threading.Thread(target=push_all, args=(f, args.window, pushes))
            pusher.start()
            indexed, found = watch(f, pushes, args.repos, args.timeout, loads)
            pusher.join()
            deadline = time.monotonic() + 600
            while f.busy() and time.monotonic() < deadline:
                time.sleep(1)
            figures = report(f, pushes, indexed, found, f.runs(), loads)
        figures["load_average_after"] = os.getloadavg()
        print(json.dumps(figures, indent=2, default=str))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()

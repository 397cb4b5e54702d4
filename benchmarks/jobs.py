"""Benchmark: the jobs API over 100,000 runs in PostgreSQL run storage (goal: <= 100 ms per page and statistics).

Usage: ``.venv/bin/python -m benchmarks.jobs [--runs 100000]``. Uses ``LIGHTFAST_TEST_POSTGRES_URL`` when set,
else starts a throwaway server like the tests do. Runs are written in bulk straight into Dagster's run tables
(the same rows ``instance.add_run`` writes), then ``deploy/dagster.yaml``'s instance reads them.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics as stats
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
from dagster._serdes import serialize_value
from sqlalchemy.engine import make_url

from lightfast_pipeline import tags
from lightfast_pipeline.runs import jobs as runs
from lightfast_pipeline.runs import rollup
from tests.support.postgres import (
    URL_VARIABLE,
    create_database,
    deploy_environment,
    drop_database,
    start_server,
    write_deploy_instance,
)

WORKSPACES = ["acme"] * 9 + ["other"]
STATUSES = (
    [DagsterRunStatus.SUCCESS] * 85
    + [DagsterRunStatus.FAILURE] * 10
    + [DagsterRunStatus.CANCELED] * 3
    + [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTED]
)
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
TRIGGERS = ["webhook"] * 6 + ["scheduled"] * 2 + ["manual", "automatic"]
BATCH = 5_000
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("lightfast_pipeline"), "__repository__"),
    "ingest_repository",
)


def insert_runs(instance: DagsterInstance, count: int, seed: int = 7, days: float = 30) -> None:
    """Insert ``count`` runs (``days`` ending now, oldest first, many sharing a second) with their lightfast tags.

    Runs created more than an hour ago are finished (a seeded "started" run has no worker, so every jobs read
    would re-examine it as possibly dead, which a real history of finished runs never costs).

    The rows are exactly those ``instance.add_run`` writes (``runs`` with the serialised run as ``run_body``, one
    ``run_tags`` row per tag). The body is serialised once per distinct tag set with a placeholder run id that
    is then replaced by each run's id (serialising 1M runs one by one takes most of an hour here).
    """
    rng = random.Random(seed)
    repositories = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(200)]
    start = datetime.now(UTC) - timedelta(days=days)
    step = timedelta(days=days) / count
    recent = datetime.now(UTC) - timedelta(hours=1)
    storage = instance.run_storage
    placeholder = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    bodies: dict[tuple[str, ...], str] = {}
    for offset in range(0, count, BATCH):
        run_rows, tag_rows = [], []
        for index in range(offset, min(offset + BATCH, count)):
            created = (start + step * index).replace(microsecond=0)  # many runs share each second
            status = rng.choice(STATUSES)
            if status not in FINISHED and created < recent:
                status = DagsterRunStatus.SUCCESS  # as in a real history: only recent runs are still in progress
            run_tags = {
                tags.WORKSPACE: rng.choice(WORKSPACES),
                tags.REPOSITORY: rng.choice(repositories),
                tags.TRIGGER: rng.choice(TRIGGERS),
                tags.USER: "bench",
                "dagster/partition": "p",
            }
            key = (status.value, *run_tags.values())
            if key not in bodies:
                run = DagsterRun(
                    job_name="ingest_repository",
                    run_id=placeholder,
                    tags=run_tags,
                    status=status,
                    remote_job_origin=ORIGIN,
                )
                bodies[key] = serialize_value(run)
            run_id = str(uuid.uuid4())
            started = None if status == DagsterRunStatus.QUEUED else created.timestamp() + rng.uniform(1, 10)
            ended = started + rng.uniform(5, 120) if started and status in FINISHED else None
            run_rows.append(
                {
                    "run_id": run_id,
                    "pipeline_name": "ingest_repository",
                    "status": status.value,
                    "run_body": bodies[key].replace(placeholder, run_id),
                    "partition": "p",
                    "create_timestamp": created.replace(tzinfo=None),
                    "update_timestamp": created.replace(tzinfo=None),
                    "start_time": started,
                    "end_time": ended,
                }
            )
            tag_rows.extend({"run_id": run_id, "key": key, "value": value} for key, value in run_tags.items())
        with storage.connect() as connection:
            connection.execute(RunsTable.insert(), run_rows)
            connection.execute(RunTagsTable.insert(), tag_rows)


def timed(function: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    """Median and max wall time in ms (after one warm-up call)."""
    function()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1000)
    return stats.median(samples), max(samples)


def analyze(url: str) -> None:
    """Refresh planner statistics after the bulk load (autovacuum does this on a live server)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()


def measure(instance: DagsterInstance) -> None:
    """Print median and max timings of the jobs API calls (the statistics from the rollup and, beside them,
    the exact query over every run of the window)."""
    page = runs.list_jobs(instance, "acme", limit=50)
    deep = instance.get_run_records(runs.runs_filter("acme"), limit=100, ascending=True)[-1]
    repository = page.jobs[0].repository
    cases: dict[str, Callable[[], object]] = {
        "list first page (50)": lambda: runs.list_jobs(instance, "acme", limit=50),
        "list second page (50, cursor)": lambda: runs.list_jobs(instance, "acme", limit=50, cursor=page.next_cursor),
        "list deep page (50, 100th oldest cursor)": lambda: runs.list_jobs(
            instance, "acme", limit=50, cursor=deep.dagster_run.run_id
        ),
        "list status=failed (50)": lambda: runs.list_jobs(instance, "acme", status="failed", limit=50),
        "list one repository (50)": lambda: runs.list_jobs(instance, "acme", repository=repository, limit=50),
        "list status=queued (rare)": lambda: runs.list_jobs(instance, "acme", status="queued", limit=50),
        "get one job": lambda: runs.get_job(instance, page.jobs[0].id),
        "stats 24 h": lambda: runs.statistics(instance, "acme", timedelta(hours=24)),
        "stats 30 days (all runs)": lambda: runs.statistics(instance, "acme", timedelta(days=31)),
        "stats 24 h, exact query (every run)": lambda: runs.statistics(
            instance, "acme", timedelta(hours=24), exact=True
        ),
        "stats 30 days, exact query (every run)": lambda: runs.statistics(
            instance, "acme", timedelta(days=31), exact=True
        ),
    }
    for label, function in cases.items():
        median, worst = timed(function)
        verdict = "ok" if median <= 100 else "OVER GOAL"
        print(f"  {label:<42} median {median:7.1f} ms   max {worst:7.1f} ms   {verdict}")


def run_benchmark(admin_url: str, count: int) -> None:
    """Fill a fresh database with ``count`` runs and print the timings."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    url = create_database(make_url(admin_url), name).render_as_string(hide_password=False)
    scratch = Path(tempfile.mkdtemp(prefix="lightfast-bench-"))
    try:
        os.environ.update(deploy_environment(url))
        home = scratch / "dagster"
        write_deploy_instance(home)
        os.environ["DAGSTER_HOME"] = str(home)
        with DagsterInstance.get() as instance:
            began = time.perf_counter()
            insert_runs(instance, count)
            print(f"inserted {count:,} runs in {time.perf_counter() - began:.1f} s")
            analyze(url)
            began = time.perf_counter()
            rollup.refresh(instance)
            print(f"jobs rollup installed and built over {count:,} runs in {time.perf_counter() - began:.2f} s")
            rolled = runs.statistics(instance, "acme", timedelta(days=31)).to_dict()
            assert rolled == runs.statistics(instance, "acme", timedelta(days=31), exact=True).to_dict()
            print("one process per command (Dagster's default NullPool: a new connection per query):")
            measure(instance)
            instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=5)
            print("long-lived process (pooled connection, as dagster-webserver configures it):")
            measure(instance)
            print(runs.statistics(instance, "acme", timedelta(days=31)).to_dict())
    finally:
        drop_database(make_url(admin_url), name)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    """Parse arguments, get a server, run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    arguments = parser.parse_args()
    given = os.environ.get(URL_VARIABLE)
    if given:
        run_benchmark(given, arguments.runs)
        return
    server = start_server()
    try:
        run_benchmark(server.url.render_as_string(hide_password=False), arguments.runs)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

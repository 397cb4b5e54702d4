"""Benchmark: every `lightfast stats` query against 1,000,000 synthetic runs (goal: each <= 100 ms).

Usage: .venv/bin/python -m benchmarks.metrics [--runs 1000000] [--dir /tmp/lightfast-bench] [--reuse]

Runs are generated straight into the warehouse's raw tables (90 days, 2 workspaces, 3 stores, 50 sources,
~70% completed) in creation order, as the loader appends them, and rolled up by hour as the loader does
(``metrics.rollup.rebuild``); the dbt models are built by the dbt assets. Each section is then timed as the API
reads it (the process's attached warehouse, a new session per read: median wall and CPU time of 5 after one
warm-up) and as a one-shot CLI reads it (DuckDB started and the file attached for that one read). For the jobs
figures, the same aggregate computed directly over every run (``fct_jobs``, the models before the rollup) is
timed beside them. The writer's per-refresh file copy is timed too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from lightfast_pipeline.metrics import rollup, stats
from lightfast_pipeline.metrics.loader import ensure_schema
from lightfast_pipeline.metrics.ranges import StatsRange
from tests.support.warehouse import build_models

END = datetime(2026, 6, 1)
DAYS = 90

GENERATE = """
insert into raw.workspaces values (1, 'acme', 'Acme', true), (2, 'beta', 'Beta', false);
insert into raw.stores (id, workspace_id, slug) values (1, 1, 'docs'), (2, 1, 'api'), (3, 2, 'docs');
insert into raw.repositories (id, uid, workspace_id, source_type, full_name, store_id, active)
    select i, 'uid' || i, 1 + (i % 2), case when i % 5 = 0 then 'local' else 'github' end,
           'org/repo-' || i, 1 + (i % 3), true
    from range(1, 51) t(i);
insert into raw.runs
    select 'run-' || i, i, 'ingest_repository',
           case when r < 0.70 then 'completed' when r < 0.85 then 'failed' when r < 0.95 then 'cancelled'
                when r < 0.98 then 'running' else 'queued' end,
           '', 'webhook', 'alice', case when repo % 2 = 0 then 'acme' else 'beta' end, 'uid' || repo, null,
           created, created + interval 2 second, created + interval 2 second + to_milliseconds(d), d
    from (
        select i, random() as r, 1 + (i % 50) as repo,
               $start::timestamp + to_microseconds((random() * $span)::bigint) as created,
               (200 + random() * 600000)::bigint as d
        from range($runs) t(i)
        order by created  -- the loader appends runs in Dagster storage order, i.e. as they were created
    );
insert into raw.metric_points
    select i, $start::timestamp + to_microseconds((random() * $span)::bigint), 1 + i % 2, null,
           case when i % 2 = 0 then 'query_latency' else 'time_to_searchable' end, random() * 5000, 'ms', '{}'
    from range(200000) t(i);
insert into raw.documents (id, uid, store_id, repository_id, path, chunk_count)
    select i, 'd' || i, 1 + i % 3, 1 + i % 50, 'p' || i, 1 + i % 9 from range(100000) t(i);
"""


def build(directory: Path, runs: int) -> Path:
    """A warehouse with ``runs`` synthetic runs and the dbt models."""
    path = directory / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        sql = GENERATE.replace("$start", f"'{END - timedelta(days=DAYS)}'")
        sql = sql.replace("$span", str(DAYS * 86400 * 10**6)).replace("$runs", str(runs))
        con.execute(sql).fetchall()
        rollup.rebuild(con)
        hours = con.execute("select count(*) from raw.run_hours").fetchall()[0][0]
        con.execute("checkpoint").fetchall()
    print(f"generated {runs:,} runs ({hours:,} rollup rows) in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    build_models(path)  # the dbt assets, as the rebuild_metrics job runs them
    print(f"dbt build in {time.perf_counter() - started:.1f} s; file {path.stat().st_size / 1e6:.0f} MB")
    return path


GOAL_MS = 100.0
DIRECT_JOBS = """
select count(*), count(*) filter (where status = 'completed'), count(*) filter (where status = 'failed'),
       avg(duration_ms) filter (where status = 'completed')
from fct_jobs where created_at >= getvariable('lf_from') and created_at < getvariable('lf_to')
"""


def timed(function: Callable[[], object], repeat: int = 5) -> float:
    """Median milliseconds of ``repeat`` calls after one warm-up."""
    return timed_cpu(function, repeat)[0]


def timed_cpu(function: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``repeat`` calls after one warm-up."""
    function()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def cold(function: Callable[[], object]) -> Callable[[], object]:
    """``function`` as a one-shot CLI runs it: the process has no attached warehouse yet."""

    def call() -> object:
        stats._ATTACHED.clear()
        return function()

    return call


SECTIONS: dict[str, Callable[[duckdb.DuckDBPyConnection], object]] = {
    "jobs": stats.jobs_section,
    "documents": stats.documents_section,
    "sources": stats.sources_section,
    "comparison": stats.comparison_section,
    "percentiles": stats.percentiles_section,
    "timeseries": stats.timeseries_section,
    "health": lambda con: stats.health_section(con, None),
}
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def main() -> None:
    """Build the warehouse and print one line per query."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="measure the warehouse built before in --dir")
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="lightfast-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "warehouse.duckdb" if args.reuse else build(directory, args.runs)

    worst = 0.0
    print(f"{'range':<6} {'section':<12} {'wall ms':>8} {'CPU ms':>7} {'/ goal':>7} {'one-shot ms':>12}")
    for name, length in RANGES.items():
        stats_range = StatsRange(END - length, END)
        for section, read in SECTIONS.items():

            def query(read=read, stats_range=stats_range) -> object:
                with stats.read_models(path, stats_range) as con:
                    return read(con)

            wall, cpu = timed_cpu(query)
            worst = max(worst, wall)
            print(
                f"{name:<6} {section:<12} {wall:>8.1f} {cpu:>7.1f} {wall / GOAL_MS:>7.2f} {timed(cold(query)):>12.1f}"
            )
        everything = lambda stats_range=stats_range: stats.read_stats(  # noqa: E731
            path, stats_range, compare=True, percentiles=True, timeseries=True, health=True
        )
        wall, cpu = timed_cpu(everything)
        one_shot = timed(cold(everything))
        print(f"{name:<6} {'all (--json)':<12} {wall:>8.1f} {cpu:>7.1f} {wall / GOAL_MS:>7.2f} {one_shot:>12.1f}")

        def direct(stats_range=stats_range) -> object:
            with stats.read_models(path, stats_range) as con:
                return con.execute(DIRECT_JOBS).fetchall()

        wall, cpu = timed_cpu(direct)
        print(f"{name:<6} {'(jobs over every run, no rollup)':<33} {wall:>8.1f} {cpu:>7.1f}")
    with duckdb.connect(str(path), read_only=True) as con:
        plan = con.execute("explain analyze select * from job_stats").fetchall()[0][1]
    print("\n".join(line for line in plan.splitlines() if "SCAN" in line or "Table:" in line or "Filters" in line))
    copy = timed(lambda: shutil.copyfile(path, directory / "copy.duckdb"), repeat=3)
    print(f"writer copy of the warehouse file: {copy:.0f} ms")
    verdict = "OK" if worst <= GOAL_MS else "OVER"
    print(f"slowest single section (attached): {worst:.1f} ms = {worst / GOAL_MS:.2f} x the goal: {verdict}")


if __name__ == "__main__":
    main()

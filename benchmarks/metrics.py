"""Benchmark: every `lightfast stats` query against 1,000,000 synthetic runs (goal: each <= 200 ms).

Usage: .venv/bin/python benchmarks/metrics.py [--runs 1000000] [--dir /tmp/lightfast-bench]

Runs are generated straight into the warehouse's raw tables (90 days, 2 workspaces, 3 stores, 50 sources,
~70% completed) in creation order, as the loader appends them; the dbt models are built with ``dbt build``,
then each query is timed the way the CLI runs it
(a fresh read-only connection with the range variables set), median of 5 after one warm-up. The writer's
per-refresh file copy is timed too.
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

from lightfast_pipeline.metrics import stats
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
        con.execute("checkpoint").fetchall()
    print(f"generated {runs:,} runs in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    build_models(path)  # the dbt assets, as the rebuild_metrics job runs them
    print(f"dbt build in {time.perf_counter() - started:.1f} s; file {path.stat().st_size / 1e6:.0f} MB")
    return path


def timed(function: Callable[[], object], repeat: int = 5) -> float:
    """Median milliseconds of ``repeat`` calls after one warm-up."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    """Build the warehouse and print one line per query."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="lightfast-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = build(directory, args.runs)

    sections: dict[str, Callable[[duckdb.DuckDBPyConnection], object]] = {
        "jobs": stats.jobs_section,
        "documents": stats.documents_section,
        "sources": stats.sources_section,
        "comparison": stats.comparison_section,
        "percentiles": stats.percentiles_section,
        "timeseries": stats.timeseries_section,
        "health": lambda con: stats.health_section(con, None),
    }
    worst = 0.0
    print(f"{'range':<6} {'query':<12} {'median ms':>10}")
    for name, length in (
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
    ):
        stats_range = StatsRange(END - length, END)
        for section, read in sections.items():

            def query(read=read, stats_range=stats_range) -> object:
                with stats.read_models(path, stats_range) as con:
                    return read(con)

            ms = timed(query)
            worst = max(worst, ms)
            print(f"{name:<6} {section:<12} {ms:>10.1f}")
        everything = timed(
            lambda stats_range=stats_range: stats.read_stats(
                path, stats_range, compare=True, percentiles=True, timeseries=True, health=True
            )
        )
        print(f"{name:<6} {'all (--json)':<12} {everything:>10.1f}")
    copy = timed(lambda: shutil.copyfile(path, directory / "copy.duckdb"), repeat=3)
    print(f"writer copy of the warehouse file: {copy:.0f} ms")
    print(f"slowest single query: {worst:.1f} ms (goal <= 200 ms): {'OK' if worst <= 200 else 'OVER'}")


if __name__ == "__main__":
    main()

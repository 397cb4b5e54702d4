"""Benchmark: streaming export and page latency of the activity timeline over 100,000 activity rows.

Usage: ``.venv/bin/python -m benchmarks.activity_export [--rows 100000]``. Builds a throwaway SQLite catalog
and Dagster instance in a temporary directory, inserts generated rows in bulk, then exports CSV and JSON
through :func:`iter_timeline` (what ``lightfast activity --export`` does) and reports time, throughput and
peak memory (tracemalloc peak of the export, and the process's RSS high-water mark before and after).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import DagsterInstance

from lightfast_pipeline.activity.export import write_export
from lightfast_pipeline.activity.timeline import TimelineFilter, iter_timeline, timeline_page
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_settings
from tests.support.activity_data import generate_activity, seed_catalog


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export(runtime: Runtime, instance: DagsterInstance, fmt: str, path: Path, *, traced: bool) -> dict[str, float]:
    """Export every row to ``path``: time and rows/s, or (``traced``, slower) the tracemalloc peak in MB."""
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    with runtime.session() as session, path.open("w", newline="") as out:
        count = write_export(iter_timeline(session, instance, TimelineFilter()), out, fmt)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    tracemalloc.stop()
    return {"rows": count, "seconds": elapsed, "rows_per_s": count / elapsed, "peak_mb": peak}


def page_latency(runtime: Runtime, instance: DagsterInstance, filters: TimelineFilter, repeat: int = 5) -> float:
    """Median ms of the first page and of a page 20 pages deep (50 rows each)."""
    timings = []
    with runtime.session() as session:
        cursor = None
        for _ in range(20):
            cursor = timeline_page(session, instance, filters, cursor=cursor, limit=50).next_cursor
        for _ in range(repeat):
            for at in (None, cursor):
                started = time.perf_counter()
                timeline_page(session, instance, filters, cursor=at, limit=50)
                timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "lightfast"
        os.environ.update(LIGHTFAST_HOME=str(home), DAGSTER_HOME=str(home / "dagster"))
        os.environ.pop("LIGHTFAST_DATABASE_URL", None)
        runtime = Runtime(load_settings())
        started = time.perf_counter()
        with runtime.session() as session:
            catalog = seed_catalog(session)
            now = datetime.now(UTC)
            generate_activity(session, catalog, args.rows, now - timedelta(days=30), now)
        print(f"insert {args.rows} rows: {time.perf_counter() - started:.1f} s")
        with DagsterInstance.get() as instance:
            for name, filters in (
                ("no filter", TimelineFilter()),
                ("status=failure workspace=beta", TimelineFilter(statuses=("failure",), workspace="beta")),
                ("search=old-api", TimelineFilter(search="old-api")),
            ):
                print(f"page of 50 ({name}): median {page_latency(runtime, instance, filters):.1f} ms")
            for fmt in ("csv", "json"):
                path = Path(tmp) / f"activity.{fmt}"
                before = _rss_mb()
                timed = export(runtime, instance, fmt, path, traced=False)
                print(
                    f"export {fmt}: {timed['rows']:.0f} rows in {timed['seconds']:.1f} s "
                    f"({timed['rows_per_s']:.0f} rows/s, {path.stat().st_size / 2**20:.0f} MB file), "
                    f"max RSS {before:.0f} -> {_rss_mb():.0f} MB"
                )
            traced = export(runtime, instance, "csv", Path(tmp) / "traced.csv", traced=True)
            print(f"export csv under tracemalloc: peak {traced['peak_mb']:.1f} MB")


if __name__ == "__main__":
    main()

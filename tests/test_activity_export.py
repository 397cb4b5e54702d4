"""Export streams: memory stays flat while the number of exported rows grows tenfold.

``benchmarks/activity_export.py`` measures the same at 100,000 rows (time, RSS, tracemalloc peak).
"""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime, timedelta

from dagster import DagsterInstance

from lightfast_pipeline.activity.export import write_export
from lightfast_pipeline.activity.timeline import iter_timeline
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from tests.support.activity_data import generate_activity, seed_catalog


class _CountingSink(io.TextIOBase):
    """A file that keeps only the number of characters written (so the output itself costs no memory)."""

    def __init__(self) -> None:
        self.chars = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        self.lines += text.count("\n")
        return len(text)


def _export_peak(runtime: Runtime, instance: DagsterInstance, fmt: str) -> tuple[int, float]:
    sink = _CountingSink()
    tracemalloc.start()
    with runtime.session() as session:
        count = write_export(iter_timeline(session, instance, batch_size=500), sink, fmt)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert sink.lines >= count
    return count, peak


def test_export_memory_does_not_grow_with_rows(lightfast_env: Settings) -> None:
    runtime = Runtime(lightfast_env)
    now = datetime.now(UTC)
    with runtime.session() as session:
        catalog = seed_catalog(session)
        generate_activity(session, catalog, 1_000, now - timedelta(days=2), now - timedelta(days=1), seed=1)
    with DagsterInstance.get() as instance:
        small = {fmt: _export_peak(runtime, instance, fmt) for fmt in ("csv", "json")}
        with runtime.session() as session:
            generate_activity(session, catalog, 9_000, now - timedelta(days=1), now, seed=2)
        large = {fmt: _export_peak(runtime, instance, fmt) for fmt in ("csv", "json")}
    for fmt in ("csv", "json"):
        assert (small[fmt][0], large[fmt][0]) == (1_000, 10_000)
        assert large[fmt][1] < 8, large  # MB: a batch of 500 rows and one row being written
        assert large[fmt][1] < small[fmt][1] * 1.5 + 1, (small, large)

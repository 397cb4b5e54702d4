"""Every stats figure against a brute-force Python computation over thousands of generated runs.

Layer: the warehouse's raw tables are filled directly (runs with known created/started/ended times, metric
points, documents, sources) and the hourly rollup is built from them as the loader builds it, then the real
dbt_metrics models are built with ``dbt build`` and read through
``metrics.stats.read_stats`` exactly as ``lightfast stats --json`` reads them. Loading from Dagster and the
catalog is covered by tests/test_warehouse_load.py.
"""

from __future__ import annotations

import math
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lightfast_pipeline.metrics import rollup
from lightfast_pipeline.metrics.loader import upsert
from lightfast_pipeline.metrics.ranges import StatsRange
from lightfast_pipeline.metrics.stats import read_models, read_stats
from tests.test_warehouse_load import template

__all__ = ["template"]  # the built models, shared with test_warehouse_load

T0 = datetime(2026, 3, 1)
DAYS = 10
EMPTY_DAY = 5  # no run created on this day
CANCELLED_ONLY = (T0 + timedelta(days=7, hours=10), T0 + timedelta(days=7, hours=13))
WORKSPACES = {1: "acme", 2: "beta"}
STORES = {1: (1, "docs"), 2: (1, "api"), 3: (2, "docs")}  # id: (workspace id, slug)
REPOS = {  # uid: (id, workspace id, store id, full_name, source type, connected)
    "r1": (1, 1, 1, "acme/handbook", "github", True),
    "r2": (2, 1, 2, "acme/api", "github", True),
    "r3": (3, 1, 1, "acme/local-notes", "local", True),
    "r4": (4, 2, 3, "beta/docs", "github", True),
    "r5": (5, 2, 3, "beta/old", "github", False),
}
STATUSES = ["completed"] * 14 + ["failed"] * 3 + ["cancelled"] * 2 + ["running", "queued"]


@dataclass(frozen=True)
class Run:
    run_id: str
    job_name: str
    status: str
    workspace: str
    repository_uid: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_ms: int | None


def _created(rng: random.Random) -> datetime:
    while True:
        kind = rng.random()
        if kind < 0.15:  # ties: many runs on the same few instants, including exact hour starts
            moment = T0 + timedelta(hours=rng.randrange(DAYS * 24), minutes=rng.choice([0, 0, 30, 59]))
        else:
            moment = T0 + timedelta(seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(10**6))
        in_cancelled_window = CANCELLED_ONLY[0] <= moment < CANCELLED_ONLY[1]
        if moment.date() != (T0 + timedelta(days=EMPTY_DAY)).date() and not in_cancelled_window:
            return moment


def generate_runs(count: int, seed: int = 7) -> list[Run]:
    """Runs with known times; duration ties (a small set of values) and runs crossing hour boundaries."""
    rng = random.Random(seed)
    runs = []
    for n in range(count):
        created = _created(rng)
        status = rng.choice(STATUSES)
        uid = rng.choice(list(REPOS))
        workspace = WORKSPACES[REPOS[uid][1]]
        started = ended = duration = None
        if status != "queued":
            started = created + timedelta(seconds=rng.randrange(0, 90))
        if status in ("completed", "failed", "cancelled"):
            duration = rng.choice([1000, 2500, 2500, 60_000]) if rng.random() < 0.3 else rng.randrange(200, 900_000)
            ended = started + timedelta(milliseconds=duration)
        job = "ingest_repository" if rng.random() < 0.95 else "warehouse_refresh"
        runs.append(Run(f"run-{n:06d}", job, status, workspace, uid, created, started, ended, duration))
    for n in range(40):  # only cancelled runs in a three-hour window
        created = CANCELLED_ONLY[0] + timedelta(minutes=4 * n)
        runs.append(Run(f"cancel-{n}", "ingest_repository", "cancelled", "acme", "r1", created, created, created, 0))
    return runs


def generate_points(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    points = []
    for n in range(count):
        kind = rng.choice(["time_to_searchable", "query_latency", "queries_count"])
        value = float(rng.choice([5, 5, 120]) if rng.random() < 0.2 else rng.randrange(1, 200_000))
        points.append(
            {
                "id": n + 1,
                "recorded_at": T0 + timedelta(seconds=rng.randrange(DAYS * 86400)),
                "workspace_id": rng.choice([1, 2]),
                "repository_id": None,
                "type": kind,
                "value": 1.0 if kind == "queries_count" else value,
                "unit": "count" if kind == "queries_count" else "ms",
                "tags": "{}",
            }
        )
    return points


# ---- brute force ---------------------------------------------------------------------------------------


def quantile_type7(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (Hyndman & Fan type 7)."""
    if not values:
        return None
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def in_range(runs: list[Run], start: datetime, end: datetime, workspace: str | None = None) -> list[Run]:
    return [
        r
        for r in runs
        if r.job_name == "ingest_repository"
        and start <= r.created_at < end
        and (workspace is None or r.workspace == workspace)
    ]


def rate(completed: int, failed: int) -> float | None:
    return 100.0 * completed / (completed + failed) if completed + failed else None


def brute_jobs(runs: list[Run]) -> dict[str, Any]:
    counts = Counter(r.status for r in runs)
    durations = [r.duration_ms for r in runs if r.status == "completed"]
    return {
        "total": len(runs),
        "completed": counts["completed"],
        "failed": counts["failed"],
        "cancelled": counts["cancelled"],
        "success_rate": rate(counts["completed"], counts["failed"]),
        "avg_duration_ms": sum(durations) / len(durations) if durations else None,
    }


def brute_health(runs: list[Run]) -> str:
    completed = sum(r.status == "completed" for r in runs)
    failed = sum(r.status == "failed" for r in runs)
    value = rate(completed, failed)
    if value is None:
        return "idle"
    return "healthy" if value >= 95 else "degraded" if value >= 80 else "down"


def close(actual: Any, expected: Any, tolerance: float) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return abs(actual - expected) <= tolerance


def assert_jobs(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("total", "completed", "failed", "cancelled"):
        assert actual[key] == expected[key], key
    assert close(actual["success_rate"], expected["success_rate"], 0.0051), (actual, expected)
    assert close(actual["avg_duration_ms"], expected["avg_duration_ms"], 0.051), (actual, expected)


# ---- fixture: one warehouse, built once -----------------------------------------------------------------


def empty_warehouse(template: Path, directory: Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    path = directory / "warehouse.duckdb"
    shutil.copyfile(template, path)
    return path, duckdb.connect(str(path))


@pytest.fixture(scope="module")
def warehouse(template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Run], list[dict[str, Any]]]:
    path, con = empty_warehouse(template, tmp_path_factory.mktemp("warehouse"))
    runs = generate_runs(6000)
    points = generate_points(3000)
    upsert(con, "raw.runs", [{**r.__dict__, "storage_id": i} for i, r in enumerate(runs)])
    rollup.rebuild(con)
    upsert(con, "raw.metric_points", points)
    upsert(
        con,
        "raw.workspaces",
        [{"id": i, "slug": s, "name": s, "is_default": i == 1} for i, s in WORKSPACES.items()],
    )
    upsert(con, "raw.stores", [{"id": i, "workspace_id": w, "slug": s} for i, (w, s) in STORES.items()])
    upsert(
        con,
        "raw.repositories",
        [
            {
                "id": i,
                "uid": uid,
                "workspace_id": w,
                "store_id": s,
                "full_name": name,
                "source_type": kind,
                "active": connected,
                "disconnected_at": None if connected else T0,
            }
            for uid, (i, w, s, name, kind, connected) in REPOS.items()
        ],
    )
    upsert(
        con,
        "raw.documents",
        [
            {
                "id": n,
                "uid": f"d{n}",
                "store_id": 1 + n % 3,
                "repository_id": 1,
                "path": f"p{n}",
                "chunk_count": n % 7,
            }
            for n in range(1, 301)
        ],
    )
    con.close()
    return path, runs, points


RANGES = {
    "24h": (T0 + timedelta(days=3, hours=6), T0 + timedelta(days=4, hours=6)),
    "7d": (T0 + timedelta(days=2), T0 + timedelta(days=9)),
    "all": (T0, T0 + timedelta(days=DAYS)),
    "partial-hours": (
        T0 + timedelta(days=1, hours=10, minutes=30),
        T0 + timedelta(days=1, hours=14, minutes=15),
    ),
    "empty-day": (T0 + timedelta(days=EMPTY_DAY), T0 + timedelta(days=EMPTY_DAY + 1)),
    "cancelled-only": CANCELLED_ONLY,
    "hour-edges": (T0 + timedelta(days=2, hours=3), T0 + timedelta(days=2, hours=4)),
}


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("workspace", [None, "beta"])
def test_jobs_comparison_percentiles_match_brute_force(warehouse, name: str, workspace: str | None) -> None:
    path, runs, _ = warehouse
    start, end = RANGES[name]
    stats_range = StatsRange(start, end)
    result = read_stats(path, stats_range, workspace=workspace, compare=True, percentiles=True)

    current = brute_jobs(in_range(runs, start, end, workspace))
    previous = brute_jobs(in_range(runs, stats_range.previous.start, start, workspace))
    assert_jobs(result["jobs"], current)

    for field, cmp in result["comparison"].items():
        assert close(cmp["current"], current[field], 0.051), field
        assert close(cmp["previous"], previous[field], 0.051), field
        if previous[field] in (None, 0) or current[field] is None:
            assert cmp["change_pct"] is None, field
        else:
            expected = 100.0 * (current[field] - previous[field]) / abs(previous[field])
            assert close(cmp["change_pct"], expected, 0.0051), field

    durations = [r.duration_ms for r in in_range(runs, start, end, workspace) if r.status == "completed"]
    pct = result["percentiles"]
    assert pct["sample_size"] == len(durations)
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert close(pct[key], quantile_type7(durations, q), 0.051), key
    assert close(pct["max"], max(durations) if durations else None, 0)


def test_empty_and_cancelled_only_windows(warehouse) -> None:
    path, _, _ = warehouse
    empty = read_stats(path, StatsRange(*RANGES["empty-day"]), percentiles=True, timeseries=True, health=True)
    assert empty["jobs"] == {
        "total": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "success_rate": None,
        "avg_duration_ms": None,
    }
    assert empty["percentiles"] == {"p50": None, "p95": None, "p99": None, "max": None, "sample_size": 0}
    assert len(empty["timeseries"]) == 24
    assert all(h["jobs"] == 0 and h["success_rate"] is None for h in empty["timeseries"])
    assert empty["health"]["workspace"] == "idle"
    assert set(empty["health"]["stores"].values()) == {"idle"}

    cancelled = read_stats(path, StatsRange(*CANCELLED_ONLY), timeseries=True, health=True)
    assert cancelled["jobs"]["cancelled"] == cancelled["jobs"]["total"] == 40
    assert cancelled["jobs"]["success_rate"] is None  # not 100 %, not 0 %
    assert [h["jobs"] for h in cancelled["timeseries"]] == [15, 15, 10]
    assert all(h["success_rate"] is None for h in cancelled["timeseries"])
    assert cancelled["health"]["workspace"] == "idle"


@pytest.mark.parametrize("name", ["24h", "partial-hours", "hour-edges", "cancelled-only"])
def test_hourly_series_matches_brute_force(warehouse, name: str) -> None:
    path, runs, _ = warehouse
    start, end = RANGES[name]
    series = read_stats(path, StatsRange(start, end), timeseries=True)["timeseries"]
    hour = start.replace(minute=0, second=0, microsecond=0)
    expected_hours = []
    while hour < end:
        expected_hours.append(hour)
        hour += timedelta(hours=1)
    assert [h["hour"] for h in series] == [h.isoformat() + "Z" for h in expected_hours]
    selected = in_range(runs, start, end)
    for row, hour in zip(series, expected_hours, strict=True):
        # a run belongs to the hour of its created_at, even when it ends in a later hour
        bucket = [r for r in selected if hour <= r.created_at < hour + timedelta(hours=1)]
        expected = brute_jobs(bucket)
        assert row["jobs"] == expected["total"]
        assert close(row["success_rate"], expected["success_rate"], 0.0051)
        assert close(row["avg_duration_ms"], expected["avg_duration_ms"], 0.051)
    assert sum(h["jobs"] for h in series) == len(selected)


def test_runs_spanning_an_hour_boundary_count_once(warehouse) -> None:
    path, runs, _ = warehouse
    spanning = [
        r for r in runs if r.job_name == "ingest_repository" and r.ended_at and r.ended_at.hour != r.created_at.hour
    ]
    assert len(spanning) > 100  # the generator really produced them
    start, end = RANGES["all"]
    series = read_stats(path, StatsRange(start, end), timeseries=True)["timeseries"]
    assert sum(h["jobs"] for h in series) == len(in_range(runs, start, end))


@pytest.mark.parametrize("workspace", [None, "acme", "beta"])
def test_health_matches_brute_force(warehouse, workspace: str | None) -> None:
    path, runs, _ = warehouse
    start, end = RANGES["7d"]
    health = read_stats(path, StatsRange(start, end), workspace=workspace, health=True)["health"]
    selected = in_range(runs, start, end, workspace)
    assert health["workspace"] == brute_health(selected)
    for store_id, (ws_id, slug) in STORES.items():
        ws = WORKSPACES[ws_id]
        if workspace not in (None, ws):
            continue
        key = slug if workspace else f"{ws}/{slug}"
        store_runs = [r for r in selected if REPOS[r.repository_uid][2] == store_id]
        assert health["stores"][key] == brute_health(store_runs), key
    connected = {uid: v for uid, v in REPOS.items() if v[5] and (workspace in (None, WORKSPACES[v[1]]))}
    assert len(health["sources"]) == len(connected)
    for uid, (_, ws_id, _, name, _, _) in connected.items():
        key = name if workspace else f"{WORKSPACES[ws_id]}/{name}"
        assert health["sources"][key] == brute_health([r for r in selected if r.repository_uid == uid]), key


def test_health_thresholds(template: Path, tmp_path: Path) -> None:
    """95 % is healthy, 94.9 % and 80 % degraded, 79.9 % down (boundaries included as the issue says)."""
    path, con = empty_warehouse(template, tmp_path)
    rows = []
    plan = {"r1": (95, 5), "r2": (949, 51), "r3": (80, 20), "r4": (799, 201)}
    for uid, (completed, failed) in plan.items():
        for n in range(completed + failed):
            status = "completed" if n < completed else "failed"
            created = T0 + timedelta(seconds=n)
            rows.append(
                {
                    "run_id": f"{uid}-{n}",
                    "job_name": "ingest_repository",
                    "status": status,
                    "repository_uid": uid,
                    "workspace": WORKSPACES[REPOS[uid][1]],
                    "created_at": created,
                    "started_at": created,
                    "ended_at": created,
                    "duration_ms": 0,
                }
            )
    upsert(con, "raw.runs", rows)
    upsert(con, "raw.workspaces", [{"id": i, "slug": s} for i, s in WORKSPACES.items()])
    upsert(
        con,
        "raw.repositories",
        [
            {
                "id": i,
                "uid": uid,
                "workspace_id": w,
                "store_id": s,
                "full_name": name,
                "source_type": kind,
                "active": True,
            }
            for uid, (i, w, s, name, kind, _) in REPOS.items()
        ],
    )
    con.close()
    sources = read_stats(path, StatsRange(T0, T0 + timedelta(days=1)), health=True)["health"]["sources"]
    assert sources == {
        "acme/acme/handbook": "healthy",
        "acme/acme/api": "degraded",
        "acme/acme/local-notes": "degraded",
        "beta/beta/docs": "down",
        "beta/beta/old": "idle",
    }


def test_percentile_estimator_is_linear_interpolation(template: Path, tmp_path: Path) -> None:
    """quantile_cont on [1000, 2000, 3000, 4000]: p50 2500, p95 3850, p99 3970 (type 7)."""
    path, con = empty_warehouse(template, tmp_path)
    upsert(
        con,
        "raw.runs",
        [
            {
                "run_id": f"r{n}",
                "job_name": "ingest_repository",
                "status": "completed",
                "created_at": T0,
                "duration_ms": n * 1000,
            }
            for n in (4, 1, 3, 2)
        ],
    )
    con.close()
    pct = read_stats(path, StatsRange(T0, T0 + timedelta(hours=1)), percentiles=True)["percentiles"]
    assert pct == {"p50": 2500.0, "p95": 3850.0, "p99": 3970.0, "max": 4000.0, "sample_size": 4}


@pytest.mark.parametrize("metric", ["time_to_searchable", "query_latency"])
def test_metric_percentiles_match_brute_force(warehouse, metric: str) -> None:
    path, _, points = warehouse
    start, end = RANGES["7d"]
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("set variable lf_from = ?::timestamp", [start])
        con.execute("set variable lf_to = ?::timestamp", [end])
        row = con.execute(f"select p50, p95, p99, max, sample_size from {metric}_percentiles").fetchone()
    values = [p["value"] for p in points if p["type"] == metric and start <= p["recorded_at"] < end]
    assert row[4] == len(values)
    for actual, q in zip(row[:3], (0.5, 0.95, 0.99), strict=True):
        assert close(actual, quantile_type7(values, q), 1e-6)
    assert row[3] == max(values)


def test_documents_and_sources(warehouse) -> None:
    path, _, _ = warehouse
    result = read_stats(path, StatsRange(*RANGES["24h"]))
    assert result["documents"] == {"total": 300, "chunks": sum(n % 7 for n in range(1, 301))}
    assert result["sources"] == {"total": 4, "by_type": {"github": 3, "local": 1}}
    beta = read_stats(path, StatsRange(*RANGES["24h"]), workspace="beta")
    assert beta["sources"] == {"total": 1, "by_type": {"github": 1}}
    assert beta["documents"]["total"] == 100  # store 3 is beta's


# ---- the hourly rollup: the same figures as aggregating fct_jobs directly, to the last bit ------------------

DIRECT_JOBS = """
select count(*) as total,
       count(*) filter (where status = 'completed') as completed,
       count(*) filter (where status = 'failed') as failed,
       count(*) filter (where status = 'cancelled') as cancelled,
       count(*) filter (where status = 'queued') as queued,
       count(*) filter (where status = 'running') as running,
       avg(duration_ms) filter (where status = 'completed') as avg_duration_ms
from fct_jobs
where created_at >= getvariable('lf_from') and created_at < getvariable('lf_to')
  and (getvariable('lf_workspace') is null or workspace = getvariable('lf_workspace'))
"""
DIRECT_HOURLY = DIRECT_JOBS.replace("select count(*)", "select created_hour, count(*)") + " group by 1 order by 1"


@pytest.fixture(scope="module")
def untagged(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated runs, one in ten without a workspace tag (its repository's workspace applies)."""
    path, con = empty_warehouse(template, tmp_path_factory.mktemp("untagged"))
    rows = [
        {**r.__dict__, "storage_id": i, "workspace": None if i % 10 == 0 else r.workspace}
        for i, r in enumerate(generate_runs(6000, seed=23))
    ]
    upsert(con, "raw.runs", rows)
    upsert(con, "raw.workspaces", [{"id": i, "slug": s, "name": s} for i, s in WORKSPACES.items()])
    upsert(
        con,
        "raw.repositories",
        [{"id": i, "uid": uid, "workspace_id": w, "store_id": s} for uid, (i, w, s, *_) in REPOS.items()],
    )
    upsert(con, "raw.stores", [{"id": i, "workspace_id": w, "slug": s} for i, (w, s) in STORES.items()])
    rollup.rebuild(con)
    con.close()
    return path


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("workspace", [None, "acme"])
def test_rollup_models_equal_the_direct_aggregate_exactly(untagged: Path, name: str, workspace: str | None) -> None:
    """job_stats and job_hourly (whole hours from raw.run_hours, edges from fct_jobs) against one aggregate
    over fct_jobs: equal values, not merely close ones."""
    stats_range = StatsRange(*RANGES[name])
    with read_models(untagged, stats_range, workspace) as con:
        direct = con.execute(DIRECT_JOBS).fetchall()
        models = con.execute(
            "select total, completed, failed, cancelled, queued, running, avg_duration_ms from job_stats"
        ).fetchall()
        assert models == direct
        hourly = con.execute(DIRECT_HOURLY).fetchall()
        series = con.execute(
            "select hour, jobs, completed, failed, avg_duration_ms from job_hourly where jobs > 0 order by hour"
        ).fetchall()
        assert series == [(h, total, done, failed, mean) for h, total, done, failed, _, _, _, mean in hourly]
    assert direct[0][0] > 0 or name in ("empty-day", "cancelled-only")

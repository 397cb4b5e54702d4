"""Reading the statistics: short read-only sessions on the dbt models, shaped as ``lightfast stats`` JSON.

Nothing is computed here: every figure comes from a dbt_metrics model; this module sets the range variables,
selects, rounds and names the fields. A process keeps one DuckDB per warehouse file with the file attached
read-only and gives each read its own session (a cursor: its own variables); when the writer has swapped a new
file in, the next read attaches that one. Starting DuckDB costs a one-shot CLI ~15 ms of CPU; a server pays it
once per refresh instead of once per request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from lightfast_pipeline.metrics.ranges import StatsRange


class WarehouseNotReady(Exception):
    """The warehouse file or its models do not exist yet."""


_ATTACHED: dict[Path, tuple[tuple[int, int, int], duckdb.DuckDBPyConnection]] = {}
_ATTACHING = threading.Lock()


def _session(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A new session on this process's DuckDB holding ``warehouse`` read-only (attached again once replaced).

    An in-memory database attaches the file, rather than ``duckdb.connect(path)``, because DuckDB caches
    databases by path: a second connect would return the replaced file's database while any session on it
    is still open.
    """
    try:
        stat = warehouse.stat()
    except FileNotFoundError:
        raise WarehouseNotReady(f"no warehouse at {warehouse}: run `lightfast stats` or the warehouse asset") from None
    identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _ATTACHING:
        known = _ATTACHED.get(warehouse)
        if known is None or known[0] != identity:
            database = duckdb.connect(":memory:")
            database.execute(f"attach '{str(warehouse).replace(chr(39), chr(39) * 2)}' as warehouse (read_only)")
            known = _ATTACHED[warehouse] = (identity, database)  # a replaced one closes with its last session
        session = known[1].cursor()
    session.execute("use warehouse")
    return session


@contextmanager
def read_models(
    warehouse: Path, stats_range: StatsRange, workspace: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only session with the range variables set, closed on exit."""
    con = _session(warehouse)
    try:
        con.execute("set variable lf_from = ?::timestamp", [stats_range.start])
        con.execute("set variable lf_to = ?::timestamp", [stats_range.end])
        con.execute("set variable lf_workspace = ?::varchar", [workspace])
        yield con
    except duckdb.CatalogException as exc:
        raise WarehouseNotReady(f"the warehouse has no dbt models yet ({exc})") from exc
    finally:
        con.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"


def jobs_section(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``jobs``: counts, success rate (percent or null) and mean duration of completed jobs."""
    row = _rows(con, "select * from job_stats")[0]
    return {
        "total": row["total"],
        "completed": row["completed"],
        "failed": row["failed"],
        "cancelled": row["cancelled"],
        "success_rate": _round(row["success_rate"], 2),
        "avg_duration_ms": _round(row["avg_duration_ms"], 1),
    }


def documents_section(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``documents``: documents and chunks indexed now."""
    row = _rows(con, "select * from documents_summary")[0]
    return {"total": row["total"], "chunks": int(row["chunks"])}


def sources_section(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``sources``: connected repositories, in total and by type."""
    by_type = {row["source_type"]: row["total"] for row in _rows(con, "select * from sources_summary")}
    return {"total": sum(by_type.values()), "by_type": by_type}


def comparison_section(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``comparison``: each jobs field now and in the previous period, with the change in percent."""
    digits = {"success_rate": 2, "avg_duration_ms": 1}
    return {
        row["field"]: {
            "current": _number(row["current"], digits.get(row["field"])),
            "previous": _number(row["previous"], digits.get(row["field"])),
            "change_pct": _round(row["change_pct"], 2),
        }
        for row in _rows(con, "select * from job_stats_comparison order by position")
    }


def _number(value: Any, digits: int | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if digits is None else round(float(value), digits)


def percentiles_section(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``percentiles``: duration (ms) p50/p95/p99/max over completed jobs, and how many there were."""
    row = _rows(con, "select * from job_duration_percentiles")[0]
    return {key: _round(row[key], 1) for key in ("p50", "p95", "p99", "max")} | {"sample_size": row["sample_size"]}


def timeseries_section(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """``timeseries``: every hour of the range (UTC), jobs, mean duration and success rate."""
    return [
        {
            "hour": _iso(row["hour"]),
            "jobs": row["jobs"],
            "avg_duration_ms": _round(row["avg_duration_ms"], 1),
            "success_rate": _round(row["success_rate"], 2),
        }
        for row in _rows(con, "select * from job_hourly order by hour")
    ]


def health_section(con: duckdb.DuckDBPyConnection, workspace: str | None) -> dict[str, Any]:
    """``health``: the workspace (or, unscoped, everything), each store and each source.

    Stores are keyed by slug and sources by repository name; without a workspace they are prefixed with
    ``<workspace>/`` because slugs and names are only unique inside one workspace.
    """
    rows = _rows(con, "select * from health")

    def key(row: dict[str, Any]) -> str:
        return row["key"] if workspace else f"{row['workspace']}/{row['key']}"

    scope = [
        r for r in rows if (r["level"], r["key"]) == (("workspace", workspace) if workspace else ("overall", "overall"))
    ]
    return {
        "workspace": scope[0]["status"] if scope else "idle",
        "stores": {key(r): r["status"] for r in rows if r["level"] == "store"},
        "sources": {key(r): r["status"] for r in rows if r["level"] == "source"},
    }


def read_stats(
    warehouse: Path,
    stats_range: StatsRange,
    *,
    workspace: str | None = None,
    compare: bool = False,
    percentiles: bool = False,
    timeseries: bool = False,
    health: bool = False,
    summary: bool = True,
) -> dict[str, Any]:
    """The ``lightfast stats --json`` object: jobs, documents, sources (``summary=False``: not computed, for a
    caller that wants one section) and the sections asked for."""
    with read_models(warehouse, stats_range, workspace) as con:
        result: dict[str, Any] = {
            "range": {"from": _iso(stats_range.start), "to": _iso(stats_range.end)},
            "workspace": workspace,
        }
        if summary:
            result |= {"jobs": jobs_section(con), "documents": documents_section(con), "sources": sources_section(con)}
        if compare:
            result["comparison"] = comparison_section(con)
        if percentiles:
            result["percentiles"] = percentiles_section(con)
        if timeseries:
            result["timeseries"] = timeseries_section(con)
        if health:
            result["health"] = health_section(con, workspace)
    return result


def _health_reason(row: dict[str, Any]) -> str:
    if not row["finished"]:
        return "no finished job in the range"
    return (
        f"success rate {_round(row['success_rate'], 2)}% over {row['finished']} finished jobs "
        f"({row['completed']} completed, {row['failed']} failed)"
    )


def health_tree(warehouse: Path, stats_range: StatsRange, workspace: str) -> dict[str, Any]:
    """One workspace's health: the workspace, then its stores and sources, each with status and reason.

    The same ``health`` model as ``lightfast stats --health``; the reason restates the figures it judged.
    """
    with read_models(warehouse, stats_range, workspace) as con:
        rows = _rows(con, "select * from health")
    mine = [row for row in rows if row["workspace"] == workspace]

    def node(row: dict[str, Any]) -> dict[str, Any]:
        return {"name": row["key"], "status": row["status"], "reason": _health_reason(row)}

    top = next((row for row in mine if row["level"] == "workspace"), None)
    return {
        "range": {"from": _iso(stats_range.start), "to": _iso(stats_range.end)},
        "workspace": node(top) if top else {"name": workspace, "status": "idle", "reason": "no jobs recorded"},
        "stores": [node(row) for row in mine if row["level"] == "store"],
        "sources": [node(row) for row in mine if row["level"] == "source"],
    }

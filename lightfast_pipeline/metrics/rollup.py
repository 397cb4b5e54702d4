"""The hourly rollup of the runs, ``raw.run_hours``: what job statistics, comparison and hourly series sum over.

One row per (hour of ``created_at``, job, workspace tag, status) — with the repository uid only when the run has
no workspace tag, so the models can still take its workspace from the repository — holding the number of runs,
how many have a duration, and the sum of their durations in ms (whole numbers: sums are exact). The loader
recomputes every hour whose runs it wrote or deleted, so each hour always equals the aggregate of its raw rows,
including runs that changed status after they were first rolled up. A warehouse without the rollup (new, or
written by an older version) is rolled up whole on its next load.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import duckdb

MARKER = "run_hours"  # raw.cursors row present once raw.run_hours holds every raw run
VERSION = "1"

SCHEMA = """
create table if not exists raw.run_hours (
    hour timestamp, job_name varchar, workspace varchar, repository_uid varchar, status varchar,
    runs bigint, timed bigint, duration_ms_sum bigint
)
"""

ROLLUP = """
insert into raw.run_hours
select
    date_trunc('hour', created_at) as hour,
    job_name,
    workspace,
    case when workspace is null then repository_uid end as repository_uid,
    status,
    count(*) as runs,
    count(duration_ms) as timed,
    coalesce(sum(duration_ms), 0)::bigint as duration_ms_sum
from raw.runs
{where}
group by all
"""


def hour_of(created_at: datetime) -> datetime:
    """The rollup hour of a run created at ``created_at`` (naive UTC)."""
    return created_at.replace(minute=0, second=0, microsecond=0)


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Roll up every raw run when the rollup was never built for this version (new or older warehouse)."""
    marker = con.execute("select value from raw.cursors where name = ?", [MARKER]).fetchall()
    if marker != [(VERSION,)]:
        rebuild(con)


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Roll up every raw run from scratch (the reference the incremental refresh must equal)."""
    con.execute(SCHEMA)
    con.execute("delete from raw.run_hours").fetchall()
    con.execute(ROLLUP.format(where="")).fetchall()
    con.execute("insert or replace into raw.cursors values (?, ?)", [MARKER, VERSION]).fetchall()


def refresh_hours(con: duckdb.DuckDBPyConnection, hours: Iterable[datetime]) -> int:
    """Recompute the given hours from the raw runs (hours left without runs disappear); returns how many."""
    chosen = sorted(set(hours))
    if not chosen:
        return 0
    con.execute("delete from raw.run_hours where hour in (select unnest(?::timestamp[]))", [chosen]).fetchall()
    # The range bound lets DuckDB skip row groups (runs are stored roughly in creation order).
    where = (
        "where created_at >= $first and created_at < $last + interval 1 hour"
        " and date_trunc('hour', created_at) in (select unnest($hours::timestamp[]))"
    )
    con.execute(ROLLUP.format(where=where), {"first": chosen[0], "last": chosen[-1], "hours": chosen}).fetchall()
    return len(chosen)

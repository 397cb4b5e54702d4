"""Incremental loads into the warehouse's ``raw`` schema (the dbt project's sources).

Each table keeps a cursor in ``raw.cursors``; nothing is copied twice except what can still change:
- runs: new runs after the last loaded run (Dagster storage order), plus every run still queued or running is
  fetched again (and dropped if Dagster no longer has it); the hours they belong to are then rolled up again
  (``raw.run_hours``, :mod:`lightfast_pipeline.metrics.rollup`);
- metric points: ids above the cursor, re-reading the last ``ID_OVERLAP`` ids (an id can commit after a higher
  one on PostgreSQL); rows are upserted by id;
- webhook deliveries: seqs above the cursor, plus every delivery still ``received``;
- documents: rows updated since the cursor, and rows deleted from the catalog are deleted here;
- workspaces, stores and repositories: small dimension tables, replaced whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
from dagster import DagsterInstance, RunsFilter
from dagster._core.storage.dagster_run import RunRecord
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import (
    Document,
    MetricPoint,
    Repository,
    Store,
    WebhookDelivery,
    Workspace,
)
from lightfast_pipeline.metrics import rollup
from lightfast_pipeline.runs.jobs import job_from_record

BATCH = 5000
ID_OVERLAP = 1000

SCHEMA = """
create schema if not exists raw;
create table if not exists raw.cursors (name varchar primary key, value varchar);
create table if not exists raw.runs (
    run_id varchar primary key, storage_id bigint, job_name varchar, status varchar, dagster_status varchar,
    trigger varchar, user_name varchar, workspace varchar, repository_uid varchar, delivery_id varchar,
    created_at timestamp, started_at timestamp, ended_at timestamp, duration_ms bigint
);
create table if not exists raw.metric_points (
    id bigint primary key, recorded_at timestamp, workspace_id integer, repository_id integer, type varchar,
    value double, unit varchar, tags json
);
create table if not exists raw.deliveries (
    seq bigint primary key, delivery_id varchar, event varchar, action varchar, github_repository_id varchar,
    repository_full_name varchar, installation_id varchar, received_at timestamp, status varchar,
    run_id varchar, processed_at timestamp
);
create table if not exists raw.documents (
    id bigint primary key, uid varchar, store_id integer, repository_id integer, path varchar,
    size_bytes bigint, chunk_count integer, indexed_at timestamp, updated_at timestamp
);
create table if not exists raw.workspaces (
    id integer primary key, slug varchar, name varchar, is_default boolean
);
create table if not exists raw.stores (
    id integer primary key, workspace_id integer, slug varchar, embedding_provider varchar,
    embedding_model varchar, embedding_dimension integer, vector_backend varchar, created_at timestamp
);
create table if not exists raw.repositories (
    id integer primary key, uid varchar, workspace_id integer, source_type varchar, full_name varchar,
    store_id integer, active boolean, disconnected_at timestamp, document_count integer, chunk_count integer,
    last_ingested_at timestamp, created_at timestamp
);
"""

UNFINISHED_STATUSES = ("queued", "running")
RAW_TABLES = (
    "runs",
    "run_hours",
    "metric_points",
    "deliveries",
    "documents",
    "workspaces",
    "stores",
    "repositories",
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables and the hourly rollup (idempotent)."""
    con.execute(SCHEMA)
    con.execute(rollup.SCHEMA)


def load_all(con: duckdb.DuckDBPyConnection, instance: DagsterInstance, session: Session) -> dict[str, int]:
    """Bring every raw table up to date; returns how many rows each load wrote."""
    ensure_schema(con)
    runs, hours = load_runs(con, instance)
    counts = {
        "runs": runs,
        "run_hours": hours,
        "metric_points": load_metric_points(con, session),
        "deliveries": load_deliveries(con, session),
        "documents": load_documents(con, session),
    }
    counts.update(load_dimensions(con, session))
    return counts


def naive_utc(value: datetime | None) -> datetime | None:
    """A UTC ``TIMESTAMP`` value for DuckDB (naive, so no session time zone can shift it)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def run_row(record: RunRecord) -> dict[str, Any]:
    """One ``raw.runs`` row from a Dagster run record (fields as the jobs API reads them)."""
    job = job_from_record(record)
    return {
        "run_id": job.id,
        "storage_id": record.storage_id,
        "job_name": job.name,
        "status": job.status,
        "dagster_status": record.dagster_run.status.value,
        "trigger": job.trigger,
        "user_name": job.user,
        "workspace": job.workspace,
        "repository_uid": job.repository,
        "delivery_id": record.dagster_run.tags.get(tags.DELIVERY),
        "created_at": naive_utc(job.created_at),
        "started_at": naive_utc(job.started_at),
        "ended_at": naive_utc(job.completed_at),
        "duration_ms": job.duration_ms,
    }


def load_runs(con: duckdb.DuckDBPyConnection, instance: DagsterInstance) -> tuple[int, int]:
    """Re-load unfinished runs, then every run after the cursor, then roll up the hours they touched.

    Returns the runs written and the rollup hours recomputed.
    """
    rollup.ensure(con)
    written, hours = 0, set()
    unfinished = [
        row[0]
        for row in con.execute(
            "select run_id from raw.runs where status in (?, ?)", list(UNFINISHED_STATUSES)
        ).fetchall()
    ]
    for chunk in _chunks(unfinished, 500):
        records = instance.get_run_records(RunsFilter(run_ids=chunk))
        written += _upsert_runs(con, records, hours)
        gone = sorted(set(chunk) - {r.dagster_run.run_id for r in records})
        if gone:
            hours.update(
                rollup.hour_of(row[0])
                for row in con.execute(
                    "select created_at from raw.runs where run_id in (select unnest(?))", [gone]
                ).fetchall()
            )
            con.execute("delete from raw.runs where run_id in (select unnest(?))", [gone]).fetchall()
    cursor = get_cursor(con, "runs")
    if cursor is not None and not instance.has_run(cursor):
        cursor = None  # the cursor run was deleted: rescan (rows are upserted, so nothing doubles)
    while True:
        records = instance.get_run_records(limit=BATCH, cursor=cursor, ascending=True)
        if not records:
            break
        written += _upsert_runs(con, records, hours)
        cursor = records[-1].dagster_run.run_id
        set_cursor(con, "runs", cursor)
    return written, rollup.refresh_hours(con, hours)


def _upsert_runs(con: duckdb.DuckDBPyConnection, records: Sequence[RunRecord], hours: set[datetime]) -> int:
    """Upsert run rows, adding the rollup hours they belong to to ``hours``."""
    rows = [run_row(r) for r in records]
    hours.update(rollup.hour_of(row["created_at"]) for row in rows)
    return upsert(con, "raw.runs", rows)


def load_metric_points(con: duckdb.DuckDBPyConnection, session: Session) -> int:
    """Metric points with ids above the cursor (minus the overlap)."""
    table: Table = MetricPoint.__table__
    cursor = int(get_cursor(con, "metric_points") or 0)
    start, written = max(0, cursor - ID_OVERLAP), 0
    while True:
        rows = session.execute(select(table).where(table.c.id > start).order_by(table.c.id).limit(BATCH)).mappings()
        batch = [
            {
                **{key: value for key, value in row.items() if key != "at"},
                "recorded_at": naive_utc(row["at"]),
                "tags": json.dumps(row["tags"] or {}, default=str),
            }
            for row in rows
        ]
        if not batch:
            break
        written += upsert(con, "raw.metric_points", batch)
        start = batch[-1]["id"]
        cursor = max(cursor, start)
    set_cursor(con, "metric_points", str(cursor))
    return written


_DELIVERY_COLUMNS = (
    "seq",
    "delivery_id",
    "event",
    "action",
    "github_repository_id",
    "repository_full_name",
    "installation_id",
    "received_at",
    "status",
    "run_id",
    "processed_at",
)


def load_deliveries(con: duckdb.DuckDBPyConnection, session: Session) -> int:
    """Deliveries above the cursor, plus those still waiting to be processed."""
    table: Table = WebhookDelivery.__table__
    columns = [table.c[name] for name in _DELIVERY_COLUMNS]
    pending = [row[0] for row in con.execute("select seq from raw.deliveries where status = 'received'").fetchall()]
    written = 0
    for chunk in _chunks(pending, 500):
        rows = session.execute(select(*columns).where(table.c.seq.in_(chunk))).mappings()
        written += upsert(con, "raw.deliveries", [_timestamps(row) for row in rows])
    cursor = int(get_cursor(con, "deliveries") or 0)
    while True:
        rows = session.execute(
            select(*columns).where(table.c.seq > cursor).order_by(table.c.seq).limit(BATCH)
        ).mappings()
        batch = [_timestamps(row) for row in rows]
        if not batch:
            break
        written += upsert(con, "raw.deliveries", batch)
        cursor = batch[-1]["seq"]
        set_cursor(con, "deliveries", str(cursor))
    return written


_DOCUMENT_COLUMNS = (
    "id",
    "uid",
    "store_id",
    "repository_id",
    "path",
    "size_bytes",
    "chunk_count",
    "indexed_at",
    "updated_at",
)


def load_documents(con: duckdb.DuckDBPyConnection, session: Session) -> int:
    """Documents changed since the cursor; documents gone from the catalog are deleted."""
    table: Table = Document.__table__
    columns = [table.c[name] for name in _DOCUMENT_COLUMNS]
    cursor = get_cursor(con, "documents")
    query = select(*columns).order_by(table.c.updated_at, table.c.id)
    if cursor is not None:
        query = query.where(table.c.updated_at >= datetime.fromisoformat(cursor).replace(tzinfo=UTC))
    written, newest = 0, cursor
    rows = session.execute(query.execution_options(yield_per=BATCH)).mappings()
    for batch in _chunks((_timestamps(row) for row in rows), BATCH):
        written += upsert(con, "raw.documents", batch)
        newest = batch[-1]["updated_at"].isoformat()
    if newest is not None:
        set_cursor(con, "documents", newest)
    ids = [row[0] for row in session.execute(select(table.c.id))]
    con.execute("delete from raw.documents where id not in (select unnest(?::bigint[]))", [ids]).fetchall()
    return written


def load_dimensions(con: duckdb.DuckDBPyConnection, session: Session) -> dict[str, int]:
    """Replace the small dimension tables whole."""
    specs = {
        "workspaces": (Workspace, ("id", "slug", "name", "is_default")),
        "stores": (
            Store,
            (
                "id",
                "workspace_id",
                "slug",
                "embedding_provider",
                "embedding_model",
                "embedding_dimension",
                "vector_backend",
                "created_at",
            ),
        ),
        "repositories": (
            Repository,
            (
                "id",
                "uid",
                "workspace_id",
                "source_type",
                "full_name",
                "store_id",
                "active",
                "disconnected_at",
                "document_count",
                "chunk_count",
                "last_ingested_at",
                "created_at",
            ),
        ),
    }
    counts = {}
    for name, (model, names) in specs.items():
        table: Table = model.__table__
        rows = [_timestamps(row) for row in session.execute(select(*[table.c[n] for n in names])).mappings()]
        con.execute(f"delete from raw.{name}").fetchall()
        counts[name] = upsert(con, f"raw.{name}", rows)
    return counts


def upsert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or replace ``rows`` (dicts keyed by column) by primary key."""
    if not rows:
        return 0
    batch = pa.Table.from_pylist(list(rows))
    con.register("_lf_batch", batch)
    try:
        con.execute(f"insert or replace into {table} by name select * from _lf_batch").fetchall()
    finally:
        con.unregister("_lf_batch")
    return len(rows)


def get_cursor(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The stored cursor of one load."""
    rows = con.execute("select value from raw.cursors where name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def set_cursor(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    """Store the cursor of one load."""
    con.execute("insert or replace into raw.cursors values (?, ?)", [name, value]).fetchall()


def _timestamps(row: Any) -> dict[str, Any]:
    return {key: naive_utc(value) if isinstance(value, datetime) else value for key, value in dict(row).items()}


def _chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

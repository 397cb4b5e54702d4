"""Is the warehouse current? The models of this project version, and the sources as of the last load.

Two markers in ``raw.cursors``: ``dbt_project_hash`` (written by the dbt assets after a build) and
``sources_version`` (written by the raw load: a fingerprint of the run history and the catalog taken before it
read them). ``stale_job`` names the metrics job that brings a stale warehouse up to date.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
from dagster import DagsterInstance, RunsFilter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import (
    DeliveryStatus,
    Document,
    MetricPoint,
    Repository,
    Store,
    WebhookDelivery,
    Workspace,
)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_metrics"

PROJECT_HASH_CURSOR = "dbt_project_hash"
SOURCES_CURSOR = "sources_version"
INGEST_JOB = "ingest_repository"
REFRESH_JOB = "refresh_warehouse"  # load + published metrics (the models are views); defined in jobs/metrics.py
REBUILD_JOB = "rebuild_metrics"  # load + dbt build + published metrics


def project_hash() -> str:
    """Hash of the project's SQL and YAML: the models must be rebuilt when it changes."""
    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        files += sorted(path for path in (DBT_PROJECT_DIR / folder).rglob("*") if path.suffix in {".sql", ".yml"})
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def mark_models_current(con: duckdb.DuckDBPyConnection) -> None:
    """Remember that the models of this project version are built (the dbt assets, after ``dbt build``)."""
    _set(con, PROJECT_HASH_CURSOR, project_hash())


def mark_loaded(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Remember the sources fingerprint a load started from."""
    _set(con, SOURCES_CURSOR, version)


def sources_version(instance: DagsterInstance, session: Session) -> str:
    """A fingerprint of what the loader reads that changes whenever a figure of the models can change.

    Ingestion runs only (the metrics jobs' own runs would make every refresh stale); the newest run by
    storage order and by last update catches new runs and status changes. Catalog tables: counts and
    newest ids or update times.
    """
    ingestion = RunsFilter(job_name=INGEST_JOB)
    newest = instance.get_run_records(ingestion, limit=1)
    updated = instance.get_run_records(ingestion, limit=1, order_by="update_timestamp", ascending=False)
    parts: list[object] = [
        newest[0].dagster_run.run_id if newest else None,
        updated[0].update_timestamp.isoformat() if updated else None,
    ]
    for query in (
        select(func.max(MetricPoint.id)),
        select(func.max(WebhookDelivery.seq)),
        select(func.count()).where(WebhookDelivery.status == DeliveryStatus.RECEIVED.value),
        select(func.count(), func.max(Document.updated_at)).select_from(Document),
        select(func.count(), func.max(Repository.updated_at)).select_from(Repository),
        select(func.count(), func.max(Store.id)).select_from(Store),
        select(func.count(), func.max(Workspace.id)).select_from(Workspace),
    ):
        parts.extend(session.execute(query).one())
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def stale_job(warehouse: Path, instance: DagsterInstance, session: Session) -> str | None:
    """``rebuild_metrics`` when the models of this project version are not built, ``refresh_warehouse`` when
    the sources changed since the last load, None when the warehouse is current."""
    markers = _markers(warehouse)
    if markers.get(PROJECT_HASH_CURSOR) != project_hash():
        return REBUILD_JOB
    if markers.get(SOURCES_CURSOR) != sources_version(instance, session):
        return REFRESH_JOB
    return None


def models_current(warehouse: Path) -> bool:
    """True when ``warehouse`` holds the models of this version of the project."""
    return _markers(warehouse).get(PROJECT_HASH_CURSOR) == project_hash()


def _markers(warehouse: Path) -> dict[str, str]:
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            rows = con.execute(
                "select name, value from raw.cursors where name in (?, ?)", [PROJECT_HASH_CURSOR, SOURCES_CURSOR]
            ).fetchall()
        except duckdb.CatalogException:  # no raw schema yet
            return {}
    return dict(rows)


def _set(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    con.execute("insert or replace into raw.cursors values (?, ?)", [name, value]).fetchall()

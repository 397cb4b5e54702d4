"""One warehouse refresh: incremental raw loads (and the dbt models when missing), in the writer's copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from lightfast_pipeline.catalog.db import session_scope
from lightfast_pipeline.metrics.dbt_project import build_models, mark_models_current, models_current
from lightfast_pipeline.metrics.loader import ensure_schema, load_all
from lightfast_pipeline.metrics.writer import WarehouseBusy, warehouse_writer


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: ``refreshed`` is False when another writer held the lock."""

    refreshed: bool
    loaded: dict[str, int] = field(default_factory=dict)
    built_models: bool = False


def load_into(building: Path, instance: DagsterInstance, database_url: str) -> dict[str, int]:
    """Load the raw tables of the writer's copy ``building``."""
    con = duckdb.connect(str(building))
    try:
        with session_scope(database_url) as session:
            loaded = load_all(con, instance, session)
        con.execute("checkpoint").fetchall()
    finally:
        con.close()
    return loaded


def refresh_warehouse(
    warehouse: Path, instance: DagsterInstance, database_url: str, *, wait: bool = True
) -> RefreshResult:
    """Bring ``warehouse`` up to date; builds the dbt models when this project version has not built them.

    With ``wait=False`` (the CLI) a refresh already in progress elsewhere is not waited for.
    """
    try:
        with warehouse_writer(warehouse, wait=wait) as building:
            loaded = load_into(building, instance, database_url)
            built = ensure_models(building)
    except WarehouseBusy:
        return RefreshResult(refreshed=False)
    return RefreshResult(refreshed=True, loaded=loaded, built_models=built)


def ensure_models(building: Path) -> bool:
    """Build the dbt models into ``building`` unless they are current; True when it built them."""
    con = duckdb.connect(str(building))
    try:
        ensure_schema(con)
        if models_current(con):
            return False
    finally:
        con.close()
    build_models(building)
    con = duckdb.connect(str(building))
    try:
        mark_models_current(con)
        con.execute("checkpoint").fetchall()
    finally:
        con.close()
    return True

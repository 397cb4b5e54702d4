"""One raw load of the warehouse (the ``warehouse_raw`` asset), in the writer's copy."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import DagsterInstance

from lightfast_pipeline.catalog.db import session_scope
from lightfast_pipeline.metrics.freshness import mark_loaded, sources_version
from lightfast_pipeline.metrics.loader import load_all


def load_into(building: Path, instance: DagsterInstance, database_url: str) -> dict[str, int]:
    """Load the raw tables of the writer's copy ``building``; remember the sources fingerprint it started from."""
    con = duckdb.connect(str(building))
    try:
        with session_scope(database_url) as session:
            version = sources_version(instance, session)  # before reading: a change during the load is not lost
            loaded = load_all(con, instance, session)
        mark_loaded(con, version)
        con.execute("checkpoint").fetchall()
    finally:
        con.close()
    return loaded

"""Indexes of our own on Dagster's run tables, so jobs statistics and the activity timeline read indexes.

Dagster indexes runs by status and update time and run tags by (key, value) only. Without these, the jobs
statistics read the whole ``runs`` table (the serialised run is stored inline: ~1.3 KB a row) and every matching
``run_tags`` row from the heap, and each timeline page sorted every run by creation time:

- ``lightfast_runs_by_created``: runs (create_timestamp, run_id) with status, start_time, end_time (PostgreSQL
  ``INCLUDE``; SQLite appends them to the key): the statistics' time range, and the timeline's keyset walk
  ``(create_timestamp, run_id)`` newest first, stopping after a page;
- ``lightfast_run_tags_by_value``: run_tags (key, value, run_id): one seek answers "does this run carry this tag".

They are ours, not Dagster's: named ``lightfast_*``, created only when missing (Dagster's migrations test for
their own index names, so they neither see nor trip over these), concurrently on PostgreSQL (run writers are never
blocked), and created again by the next process if a Dagster migration ever rebuilds a table without them.
Dropping them changes no result, only the speed; a storage that refuses the DDL (a read-only role) is logged and
read without them.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from dagster import DagsterInstance
from dagster._core.storage.runs.sql_run_storage import SqlRunStorage

INDEXES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "lightfast_runs_by_created": ("runs", ("create_timestamp", "run_id"), ("status", "start_time", "end_time")),
    "lightfast_run_tags_by_value": ("run_tags", ("key", "value", "run_id"), ()),
}
log = logging.getLogger(__name__)


def _ddl(name: str, dialect: str) -> str:
    table, keys, included = INDEXES[name]
    if dialect != "postgresql":
        return f"create index if not exists {name} on {table} ({', '.join(keys + included)})"
    include = f" include ({', '.join(included)})" if included else ""
    # Dagster's PostgreSQL storage connects in autocommit, which CONCURRENTLY requires.
    return f"create index concurrently if not exists {name} on {table} ({', '.join(keys)}){include}"


def missing_run_indexes(instance: DagsterInstance) -> list[str]:
    """The indexes of :data:`INDEXES` the instance's run storage lacks (none for a non-SQL storage)."""
    storage = instance.run_storage
    if not isinstance(storage, SqlRunStorage):
        return []
    with storage.connect() as connection:
        inspector = sa.inspect(connection)
        present = {index["name"] for table in ("runs", "run_tags") for index in inspector.get_indexes(table)}
    return [name for name in INDEXES if name not in present]


def ensure_run_indexes(instance: DagsterInstance) -> list[str]:
    """Create the missing indexes (a one-off: seconds at a million runs); returns the names created.

    Another process creating the same index at the same moment is not an error; a refused DDL is logged.
    """
    created = []
    for name in missing_run_indexes(instance):
        try:
            with instance.run_storage.connect() as connection:
                connection.execute(sa.text(_ddl(name, connection.dialect.name)))
        except sa.exc.DBAPIError as error:
            if name in missing_run_indexes(instance):
                log.warning("run storage without index %s (%s): run history reads scan more rows", name, error)
            continue
        created.append(name)
    return created

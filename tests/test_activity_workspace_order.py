"""Migration 0009: one workspace's timeline is read newest first through ``ix_activity_workspace_at_id`` and
the page stops the walk, instead of every row of the workspace being read and sorted (SQLite's choice before)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance
from sqlalchemy import event

from lightfast_pipeline.activity.timeline import TimelineFilter, timeline_page
from lightfast_pipeline.catalog.db import get_engine, migrate, session_scope
from tests.support.activity_data import generate_activity, seed_catalog


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:  # no runs: the timeline's activity side alone
        yield ephemeral


def _plans(url: str, instance: DagsterInstance, filters: TimelineFilter) -> list[str]:
    """SQLite's ``EXPLAIN QUERY PLAN`` of each activity query the timeline sends for one page."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM activity LEFT OUTER JOIN workspaces" in statement:
            sent.append((statement, parameters))

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        with session_scope(url) as session:
            timeline_page(session, instance, filters, limit=50)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as connection:
        return [
            " | ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
            for statement, parameters in sent
        ]


@pytest.mark.parametrize("status", [None, "failure"])
def test_a_workspace_page_walks_the_workspace_index_in_order(
    tmp_path: Path, instance: DagsterInstance, status: str | None
) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    migrate(url)
    end = datetime.now(UTC)
    with session_scope(url) as session:
        catalog = seed_catalog(session)
        generate_activity(session, catalog, 3000, end - timedelta(days=30), end)
    filters = TimelineFilter(workspace="acme", statuses=(status,) if status else ())

    plans = _plans(url, instance, filters)

    assert plans, "the timeline sent no activity query"
    for plan in plans:
        assert "ix_activity_workspace_at_id" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan

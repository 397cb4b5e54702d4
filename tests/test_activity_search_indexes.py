"""Migration 0006: the activity text search's indexes on PostgreSQL (trigram GIN), nothing on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from dagster import DagsterInstance
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

from lightfast_pipeline.activity.timeline import TimelineFilter, timeline_page
from lightfast_pipeline.catalog.db import alembic_config, get_engine, head_revisions, migrate, session_scope
from tests.support.activity_data import generate_activity, seed_catalog

SEARCH_INDEXES = {  # name: how pg_indexes ends its definition
    "ix_activity_repository_name_trgm": "USING gin (repository_name gin_trgm_ops)",
    "ix_activity_actor_trgm": "USING gin (actor gin_trgm_ops)",
    "ix_activity_reason_trgm": "USING gin (reason gin_trgm_ops)",
    "ix_activity_message_trgm": "USING gin (message gin_trgm_ops)",
    "ix_activity_repository_id": "USING btree (repository_id)",
}


def _alembic(url: str, verb: str, revision: str) -> None:
    with get_engine(url).begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def _indexes(url: str) -> dict[str, str]:
    query = text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'activity'")
    with get_engine(url).connect() as connection:
        return {name: definition for name, definition in connection.execute(query) if name in SEARCH_INDEXES}


def _has_trgm(url: str) -> bool:
    with get_engine(url).connect() as connection:
        return bool(connection.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")))


def _version(url: str) -> str:
    with get_engine(url).connect() as connection:
        return connection.scalar(text("SELECT version_num FROM lightfast_catalog_version"))


@pytest.mark.postgres
def test_upgrade_creates_the_search_indexes_and_downgrade_drops_them(postgres_url: str) -> None:
    migrate(postgres_url)
    indexes = _indexes(postgres_url)
    assert set(indexes) == set(SEARCH_INDEXES)
    for name, definition in indexes.items():
        assert definition.endswith(SEARCH_INDEXES[name]), definition
    _alembic(postgres_url, "downgrade", "0005")
    assert _indexes(postgres_url) == {}
    assert _has_trgm(postgres_url)  # the extension stays (it may serve others)
    _alembic(postgres_url, "upgrade", "head")
    assert set(_indexes(postgres_url)) == set(SEARCH_INDEXES)


def test_the_migration_changes_nothing_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    schema = text("SELECT type, name, sql FROM sqlite_master ORDER BY name")
    _alembic(url, "upgrade", "0005")
    with get_engine(url).connect() as connection:
        before = connection.execute(schema).all()
    _alembic(url, "upgrade", "0006")
    with get_engine(url).connect() as connection:
        assert connection.execute(schema).all() == before
    _alembic(url, "downgrade", "0005")
    assert _version(url) == "0005"


@pytest.fixture
def limited_url(postgres_server: URL, postgres_url: str) -> Iterator[str]:
    """``postgres_url`` for a new role that may create tables but not extensions (no CREATE on the database)."""
    role = f"limited_{uuid.uuid4().hex[:12]}"
    admin = _admin(postgres_server)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    database = _admin(make_url(postgres_url))
    with database.connect() as connection:
        connection.execute(text(f'GRANT CREATE ON SCHEMA public TO "{role}"'))
    try:
        yield make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    finally:
        get_engine(make_url(postgres_url).set(username=role).render_as_string(hide_password=False)).dispose()
        with database.connect() as connection:
            connection.execute(text(f'DROP OWNED BY "{role}"'))
        database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _admin(url: URL) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.mark.postgres
def test_a_role_that_may_not_create_pg_trgm_fails_clearly_until_it_exists(postgres_url: str, limited_url: str) -> None:
    _alembic(limited_url, "upgrade", "0005")
    with pytest.raises(RuntimeError, match=r'run "CREATE EXTENSION pg_trgm;" in database') as raised:
        migrate(limited_url)
    assert "permission denied to create extension" in str(raised.value)
    assert _version(limited_url) == "0005"  # rolled back whole
    assert not _has_trgm(limited_url)
    with get_engine(postgres_url).begin() as connection:  # the administrator
        connection.execute(text("CREATE EXTENSION pg_trgm"))
    migrate(limited_url)
    assert {_version(limited_url)} == head_revisions()  # 0006 and every later revision
    assert set(_indexes(limited_url)) == set(SEARCH_INDEXES)


def _index_names(plan: Any) -> set[str]:
    """Every index a JSON plan (``EXPLAIN (FORMAT JSON)``) reads."""
    if isinstance(plan, list):
        return set().union(*(_index_names(item) for item in plan))
    if isinstance(plan, dict):
        found = {plan["Index Name"]} if "Index Name" in plan else set()
        return found.union(*(_index_names(value) for value in plan.values()))
    return set()


@pytest.mark.postgres
def test_the_search_query_the_timeline_sends_can_use_every_search_index(postgres_url: str) -> None:
    """The indexes match the SQL as sent (``col ILIKE …``, not ``lower(col)``): with scans that ignore them
    disabled, the activity query of a search reads each of them. (Whether the planner prefers them at scale is
    measured in the README: 100,000 rows.)"""
    migrate(postgres_url)
    with session_scope(postgres_url) as session:
        catalog = seed_catalog(session)
        end = datetime.now(UTC)
        generate_activity(session, catalog, 500, end - timedelta(days=1), end)
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM activity" in statement and "ILIKE" in statement:
            sent.append((statement, parameters))

    engine = get_engine(postgres_url)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        with session_scope(postgres_url) as session, DagsterInstance.ephemeral() as instance:  # no runs
            page = timeline_page(session, instance, TimelineFilter(search="api-docs"))  # a repository's name
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert page.entries
    assert len(sent) == 1
    statement, parameters = sent[0]
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_indexscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    assert _index_names(plan) >= set(SEARCH_INDEXES)

"""The timeline on PostgreSQL: the catalog and Dagster's run storage (deploy/dagster.yaml) as two databases of
one real server (both keep an ``alembic_version`` table, so they cannot share a database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from lightfast_pipeline.settings import load_settings
from tests.support.postgres import create_database, deploy_environment, drop_database, write_deploy_instance
from tests.test_activity_timeline import World, _build_world, _export, _filters, _pages, _reference

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_world(
    postgres_server: URL, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    database = f"dagster_{uuid.uuid4().hex[:12]}"
    dagster_url = create_database(postgres_server, database)
    for name, value in deploy_environment(dagster_url.render_as_string(hide_password=False)).items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "lightfast"
    write_deploy_instance(home / "dagster")
    monkeypatch.setenv("LIGHTFAST_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("LIGHTFAST_DATABASE_URL", postgres_url)
    try:
        yield from _build_world(load_settings())
    finally:
        drop_database(postgres_server, database)


def test_pages_export_and_reference_agree_on_postgresql(pg_world: World) -> None:
    for filters in _filters(pg_world):
        expected = _reference(pg_world, filters)
        assert [e.key for e in _pages(pg_world, filters, limit=211)] == expected, filters
        assert [e.key for e in _export(pg_world, filters, batch_size=500)] == expected, filters
    assert [e.key for e in _pages(pg_world, _filters(pg_world)[2], limit=3)] == _reference(
        pg_world, _filters(pg_world)[2]
    )

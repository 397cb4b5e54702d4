"""Catalog: migrations equal the models (SQLite and PostgreSQL); workspace names never collide into one slug or key."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lightfast_pipeline.activity.search import ACTIVITY_SEARCH_TABLES
from lightfast_pipeline.catalog.db import get_engine, migrate, session_scope
from lightfast_pipeline.catalog.keywords import KEYWORD_TABLES
from lightfast_pipeline.catalog.models import Base
from lightfast_pipeline.workspaces.workspace import (
    WorkspaceError,
    create_workspace,
    find_workspace,
    get_or_create_organization,
    list_workspaces,
)
from tests.test_activity_search_indexes import SEARCH_INDEXES


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    migrate(url)
    return url


def _differences(url: str) -> list[tuple]:
    """What Alembic would change to make the migrated catalog equal the models, but for what no model holds: the
    version table, the keyword index (FTS5 virtual and shadow tables or a tsvector table, kept by triggers), the
    activity search's PostgreSQL indexes (migration 0006) and its SQLite trigram table (migration 0008)."""
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": "lightfast_catalog_version"})
        differences = compare_metadata(context, Base.metadata)
    unmodelled = KEYWORD_TABLES | ACTIVITY_SEARCH_TABLES
    unmodelled |= {"lightfast_catalog_version", "ix_chunk_keywords_terms", *SEARCH_INDEXES}
    return [
        diff
        for diff in differences
        if diff[0] not in ("remove_table", "remove_index") or diff[1].name not in unmodelled
    ]


def test_migrations_match_the_models(catalog_url: str) -> None:
    assert _differences(catalog_url) == []


@pytest.mark.postgres
def test_migrations_match_the_models_on_postgresql(postgres_url: str) -> None:
    migrate(postgres_url)
    assert _differences(postgres_url) == []


def test_every_organisation_gets_a_default_workspace(catalog_url: str) -> None:
    with session_scope(catalog_url) as session:
        organization = get_or_create_organization(session, "Acme")
        assert [ws.name for ws in organization.workspaces if ws.is_default] == ["default"]
        assert find_workspace(session, None, "Acme").organization_id == organization.id


def test_names_unique_per_org_slugs_and_keys_unique_globally(catalog_url: str) -> None:
    with session_scope(catalog_url) as session:
        acme = get_or_create_organization(session, "Acme")
        other = get_or_create_organization(session, "Other")
        first = create_workspace(session, "Docs Team", organization=acme)
        second = create_workspace(session, "Docs Team", organization=other)
        third = create_workspace(session, "docs-team", organization=acme)
        with pytest.raises(WorkspaceError, match="already exists"):
            create_workspace(session, "Docs Team", organization=acme)
        slugs = [first.slug, second.slug, third.slug]
        keys = [first.key, second.key, third.key]
        assert len(set(slugs)) == 3 and len(set(keys)) == 3
        assert first.slug == "docs-team"


def test_long_names_are_not_truncated_into_a_collision(catalog_url: str) -> None:
    base = "Platform documentation for the payments and billing infrastructure group"
    with session_scope(catalog_url) as session:
        one = create_workspace(session, base + " (EU)")
        two = create_workspace(session, base + " (US)")
        assert one.slug != two.slug and one.key != two.key
        assert len(one.slug) <= 60 and len(one.key) <= 12
        assert {ws.name for ws in list_workspaces(session)} >= {base + " (EU)", base + " (US)"}

"""The catalog as a Dagster resource: sessions, and the Runtime that assets, sensors and schedules build on.

Unset fields are resolved from the process settings (``settings.py``, the one reader of the environment) when
the resource is used, so one code location serves any ``LIGHTFAST_HOME``; tests pass an instance with the
field set instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from sqlalchemy.orm import Session

from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings, load_settings

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from lightfast_pipeline.embedders.base import Embedder
    from lightfast_pipeline.settings import GitHubSettings
    from lightfast_pipeline.vectorstores.base import VectorStore


class CatalogResource(ConfigurableResource):
    """The catalog database (SQLAlchemy URL; default: LIGHTFAST_DATABASE_URL or SQLite under LIGHTFAST_HOME)."""

    database_url: str | None = None

    def settings(self) -> Settings:
        """The process settings with this resource's catalog."""
        settings = load_settings()
        return replace(settings, database_url=self.database_url or settings.database_url)

    def runtime(
        self,
        instance: DagsterInstance | None = None,
        *,
        embedder: Embedder | None = None,
        vector_store: VectorStore | None = None,
        github: GitHubSettings | None = None,
    ) -> Runtime:
        """A Runtime on this catalog (migrated once per process) with the given services."""
        return Runtime(self.settings(), embedder=embedder, vector_store=vector_store, instance=instance, github=github)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A catalog session, committed on success."""
        with self.runtime().session() as session:
            yield session

"""The objects every entry point needs (catalog, embedder, vector store), built once from settings.

CLI commands and the webhook receiver use a :class:`Runtime` built from settings; Dagster assets, sensors and
schedules get one from their resources (``resources/catalog.py``), never from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.db import migrate, session_scope
from lightfast_pipeline.embedders.base import Embedder
from lightfast_pipeline.settings import GitHubSettings, Settings, ensure_home, load_github_settings, load_settings
from lightfast_pipeline.vectorstores.base import VectorStore

if TYPE_CHECKING:
    from dagster import DagsterInstance  # imported on first use: the webhook receiver never needs Dagster


class Runtime:
    """Lazily built services of one process."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        vector_store: VectorStore | None = None,
        instance: DagsterInstance | None = None,
        github: GitHubSettings | None = None,
        migrate_catalog: bool = True,
    ) -> None:
        self.settings = settings or load_settings()
        ensure_home(self.settings)
        if migrate_catalog:
            migrate(self.settings.database_url)
        # Injected services (from Dagster resources) take precedence over the ones built from settings.
        injected = {"embedder": embedder, "vector_store": vector_store, "instance": instance, "github": github}
        for name, value in injected.items():
            if value is not None:
                self.__dict__[name] = value

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A catalog session, committed on success."""
        with session_scope(self.settings.database_url) as session:
            yield session

    @cached_property
    def embedder(self) -> Embedder:
        from lightfast_pipeline.embedders.factory import build_embedder

        return build_embedder(self.settings.embedder, self.settings.embedding_model, self.settings.embedder_socket)

    @cached_property
    def vector_store(self) -> VectorStore:
        from lightfast_pipeline.vectorstores.factory import build_vector_store

        return build_vector_store(self.settings)

    @cached_property
    def github(self) -> GitHubSettings:
        """The GitHub App's credentials (the environment's, unless a Dagster resource gave them)."""
        return load_github_settings()

    @cached_property
    def instance(self) -> DagsterInstance:
        """The Dagster instance in ``$DAGSTER_HOME`` (run history = jobs record), with our run-table indexes."""
        from dagster import DagsterInstance

        from lightfast_pipeline.runs.indexes import ensure_run_indexes

        instance = DagsterInstance.get()
        ensure_run_indexes(instance)
        return instance

"""Dagster resources over the catalog, the embedder and the vector store.

Every field is optional: unset fields are resolved from the environment (``settings.py``) when a run uses
the resource, so one code location serves any ``LIGHTFAST_HOME``. Tests swap implementations through
configuration (the embedder spec can name any class, e.g. the test embedder in ``tests/support``), never
through mocks.
"""

from __future__ import annotations

from dataclasses import replace

from dagster import ConfigurableResource, DagsterInstance

from lightfast_pipeline.embedders.base import Embedder
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings, load_settings
from lightfast_pipeline.vectorstores.base import VectorStore


class CatalogResource(ConfigurableResource):
    """The catalog database (SQLAlchemy URL; default: LIGHTFAST_DATABASE_URL or SQLite under LIGHTFAST_HOME)."""

    database_url: str | None = None

    def resolve(self, settings: Settings) -> Settings:
        return replace(settings, database_url=self.database_url or settings.database_url)


class EmbedderResource(ConfigurableResource):
    """The embedder: "local" (sentence-transformers), "cohere", or "module:Class" (default: LIGHTFAST_EMBEDDER)."""

    provider: str | None = None
    model: str | None = None

    def build(self, settings: Settings) -> Embedder:
        from lightfast_pipeline.embedders.factory import build_embedder

        return build_embedder(
            self.provider or settings.embedder, self.model or settings.embedding_model, settings.embedder_socket
        )


class VectorStoreResource(ConfigurableResource):
    """The vector store: "lancedb" (embedded) or "pinecone" (default: LIGHTFAST_VECTOR_BACKEND)."""

    backend: str | None = None
    lancedb_uri: str | None = None

    def build(self, settings: Settings) -> VectorStore:
        from lightfast_pipeline.vectorstores.factory import build_vector_store

        return build_vector_store(
            replace(
                settings,
                vector_backend=self.backend or settings.vector_backend,
                lancedb_uri=self.lancedb_uri or settings.lancedb_uri,
            )
        )


def runtime_from_resources(
    catalog: CatalogResource,
    embedder: EmbedderResource,
    vector_store: VectorStoreResource,
    instance: DagsterInstance,
) -> Runtime:
    """A Runtime whose services are the configured resources'."""
    settings = catalog.resolve(load_settings())
    return Runtime(
        settings,
        embedder=embedder.build(settings),
        vector_store=vector_store.build(settings),
        instance=instance,
    )

"""The vector store as a Dagster resource."""

from __future__ import annotations

from dataclasses import replace

from dagster import ConfigurableResource

from lightfast_pipeline.settings import Settings
from lightfast_pipeline.vectorstores.base import VectorStore


class VectorStoreResource(ConfigurableResource):
    """The vector store: "lancedb" (embedded) or "pinecone" (default: LIGHTFAST_VECTOR_BACKEND)."""

    backend: str | None = None
    lancedb_uri: str | None = None

    def build(self, settings: Settings) -> VectorStore:
        """The store named by this resource, else by the settings."""
        from lightfast_pipeline.vectorstores.factory import build_vector_store

        return build_vector_store(
            replace(
                settings,
                vector_backend=self.backend or settings.vector_backend,
                lancedb_uri=self.lancedb_uri or settings.lancedb_uri,
            )
        )

"""The vector store as a Dagster resource; the Pinecone API key is an ``EnvVar``, resolved when a run starts."""

from __future__ import annotations

from dataclasses import replace

from dagster import ConfigurableResource, EnvVar

from lightfast_pipeline.settings import PineconeSettings, ProjectSettings, Settings
from lightfast_pipeline.vectorstores.base import VectorStore

PINECONE_API_KEY_ENV = "PINECONE_API_KEY"


class VectorStoreResource(ConfigurableResource):
    """The vector store: "lancedb" (embedded) or "pinecone" (default: the settings').

    ``lancedb_uri`` unset: the settings' (under ``LIGHTFAST_HOME``), so one code location serves any home.
    ``pinecone_api_key`` holds the key only as ``EnvVar("PINECONE_API_KEY")``.
    """

    backend: str | None = None
    lancedb_uri: str | None = None
    pinecone_api_key: str | None = None
    pinecone_index_host: str | None = None
    pinecone_consistency_seconds: float = 30.0

    @classmethod
    def from_settings(cls, project: ProjectSettings) -> VectorStoreResource:
        """The configured backend; the Pinecone key bound by name when it is configured."""
        return cls(
            backend=project.core.vector_backend,
            pinecone_api_key=EnvVar(PINECONE_API_KEY_ENV) if project.pinecone.api_key else None,
            pinecone_index_host=project.pinecone.index_host,
            pinecone_consistency_seconds=project.pinecone.consistency_seconds,
        )

    def build(self, settings: Settings) -> VectorStore:
        """The store named by this resource, else by the settings."""
        from lightfast_pipeline.vectorstores.factory import build_vector_store

        return build_vector_store(
            replace(
                settings,
                vector_backend=self.backend or settings.vector_backend,
                lancedb_uri=self.lancedb_uri or settings.lancedb_uri,
            ),
            pinecone=PineconeSettings(
                api_key=self.pinecone_api_key,
                index_host=self.pinecone_index_host,
                consistency_seconds=self.pinecone_consistency_seconds,
            ),
        )

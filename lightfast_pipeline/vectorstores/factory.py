"""Build the vector store named by ``settings.vector_backend``."""

from __future__ import annotations

from lightfast_pipeline.settings import PineconeSettings, Settings, load_pinecone_settings
from lightfast_pipeline.vectorstores.base import VectorStore, VectorStoreError

BACKENDS = ("lancedb", "pinecone")


def build_vector_store(settings: Settings, *, pinecone: PineconeSettings | None = None) -> VectorStore:
    """``lancedb`` (default, at ``settings.lancedb_uri``) or ``pinecone`` (``pinecone``, the Dagster resource's,
    else ``PINECONE_API_KEY`` and ``PINECONE_INDEX_HOST``, the CLI's)."""
    if settings.vector_backend == "lancedb":
        from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

        return LanceDBVectorStore(settings.lancedb_uri)
    if settings.vector_backend == "pinecone":
        from lightfast_pipeline.vectorstores.pinecone_store import PineconeVectorStore

        pinecone = pinecone or load_pinecone_settings()
        if not pinecone.api_key or not pinecone.index_host:
            raise VectorStoreError("vector backend 'pinecone' needs PINECONE_API_KEY and PINECONE_INDEX_HOST")
        return PineconeVectorStore(
            pinecone.api_key, pinecone.index_host, consistency_seconds=pinecone.consistency_seconds
        )
    raise VectorStoreError(f"unknown vector backend {settings.vector_backend!r}: use one of {BACKENDS}")

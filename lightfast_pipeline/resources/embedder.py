"""The embedder as a Dagster resource."""

from __future__ import annotations

from dagster import ConfigurableResource

from lightfast_pipeline.embedders.base import Embedder
from lightfast_pipeline.settings import Settings


class EmbedderResource(ConfigurableResource):
    """The embedder: "local" (sentence-transformers), "cohere", or "module:Class" (default: LIGHTFAST_EMBEDDER)."""

    provider: str | None = None
    model: str | None = None

    def build(self, settings: Settings) -> Embedder:
        """The process-wide embedder (the warm embedding service is used when it serves the same model)."""
        from lightfast_pipeline.embedders.factory import build_embedder

        return build_embedder(
            self.provider or settings.embedder, self.model or settings.embedding_model, settings.embedder_socket
        )

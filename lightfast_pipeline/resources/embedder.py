"""The embedder as a Dagster resource; the Cohere API key is an ``EnvVar``, resolved when a run starts."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar

from lightfast_pipeline.embedders.base import Embedder
from lightfast_pipeline.settings import CohereSettings, ProjectSettings, Settings

COHERE_API_KEY_ENV = "COHERE_API_KEY"


class EmbedderResource(ConfigurableResource):
    """The embedder: "local" (sentence-transformers), "cohere", or "module:Class" (default: the settings').

    ``cohere_api_key`` holds the key only as ``EnvVar("COHERE_API_KEY")``: the definitions, the UI and the run
    records see the variable's name, never its value.
    """

    provider: str | None = None
    model: str | None = None
    cohere_api_key: str | None = None
    cohere_base_url: str | None = None
    cohere_model: str = "embed-english-v3.0"

    @classmethod
    def from_settings(cls, project: ProjectSettings) -> EmbedderResource:
        """The configured provider and model; the Cohere key bound by name when it is configured."""
        return cls(
            provider=project.core.embedder,
            model=project.core.embedding_model,
            cohere_api_key=EnvVar(COHERE_API_KEY_ENV) if project.cohere.api_key else None,
            cohere_base_url=project.cohere.base_url,
            cohere_model=project.cohere.model,
        )

    def build(self, settings: Settings) -> Embedder:
        """The process-wide embedder (the warm embedding service is used when it serves the same model)."""
        from lightfast_pipeline.embedders.factory import build_embedder

        cohere = CohereSettings(api_key=self.cohere_api_key, base_url=self.cohere_base_url, model=self.cohere_model)
        return build_embedder(
            self.provider or settings.embedder,
            self.model or settings.embedding_model,
            settings.embedder_socket,
            cohere=cohere,
        )

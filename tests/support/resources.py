"""Resource instances for tests: Dagster code gets its services from these, never from the environment.

Real alternative implementations, not mocks: :class:`HashingEmbedderResource` embeds with the deterministic
hashing embedder (``tests/support/embedders.py``), the store is LanceDB in the test's own directory.
"""

from __future__ import annotations

from dagster import ConfigurableResource

from lightfast_pipeline.embedders.base import Embedder
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.embedder import EmbedderResource
from lightfast_pipeline.resources.github import GitHubAppResource
from lightfast_pipeline.resources.vector_store import VectorStoreResource
from lightfast_pipeline.settings import GitHubSettings, Settings, load_github_settings
from tests.support.embedders import Hashing256Embedder, HashingEmbedder


class HashingEmbedderResource(EmbedderResource):
    """The hashing embedder (384 dimensions, or 256 under another model name: a model change)."""

    dimension: int = 384

    def build(self, settings: Settings) -> Embedder:
        """A fresh hashing embedder; the settings are not needed."""
        del settings
        return HashingEmbedder() if self.dimension == 384 else Hashing256Embedder()


def sensor_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    """The test's own catalog and GitHub App, passed to ``build_sensor_context``/``build_schedule_context``."""
    return {"catalog": CatalogResource(database_url=settings.database_url), "github": github_resource()}


def github_resource(github: GitHubSettings | None = None) -> GitHubAppResource:
    """The GitHub App of the test (``github_app`` fixture's local server), given by value."""
    github = github or load_github_settings()
    secrets = github.webhook_secrets
    return GitHubAppResource(
        app_id=github.app_id,
        private_key=github.private_key,
        private_key_path=github.private_key_path,
        webhook_secret=secrets[0] if secrets else None,
        api_url=github.api_url,
        rate_limit_max_wait_seconds=github.rate_limit_max_wait,
    )


def ingestion_resources(
    settings: Settings,
    embedder: EmbedderResource | None = None,
    vector_store: VectorStoreResource | None = None,
) -> dict[str, ConfigurableResource]:
    """Every resource of the ingestion location on the test's catalog, the hashing embedder and LanceDB in the
    test's directory unless others are given."""
    return {
        "catalog": CatalogResource(database_url=settings.database_url),
        "embedder": embedder or HashingEmbedderResource(),
        "vector_store": vector_store or VectorStoreResource(backend="lancedb", lancedb_uri=settings.lancedb_uri),
        "github": github_resource(),
    }

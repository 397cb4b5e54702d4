"""Dagster resources over the services, one module per domain, built from one :class:`ProjectSettings`.

Secrets (the Cohere and Pinecone API keys, the GitHub App's private key and webhook secrets, the notification
URL) are bound as ``EnvVar``s: the definitions, the UI and the run records hold variable names, and the values
are read when a run or a tick starts. The catalog and the LanceDB directory follow ``LIGHTFAST_HOME`` when they
are not set explicitly (one code location serves any home).
"""

from __future__ import annotations

from dagster import ConfigurableResource

from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.embedder import EmbedderResource
from lightfast_pipeline.resources.github import GitHubAppResource
from lightfast_pipeline.resources.notifications import NotificationsResource
from lightfast_pipeline.resources.vector_store import VectorStoreResource
from lightfast_pipeline.settings import ProjectSettings


def ingestion_resources(project: ProjectSettings) -> dict[str, ConfigurableResource]:
    """The ingestion code location's resources: catalog, embedder, vector store, GitHub App."""
    return {
        "catalog": CatalogResource(),
        "embedder": EmbedderResource.from_settings(project),
        "vector_store": VectorStoreResource.from_settings(project),
        "github": GitHubAppResource.from_settings(project.github),
    }


def metrics_resources(project: ProjectSettings) -> dict[str, ConfigurableResource]:
    """The metrics code location's resources: catalog and notifications."""
    return {"catalog": CatalogResource(), "notifications": NotificationsResource.from_settings(project.notify)}

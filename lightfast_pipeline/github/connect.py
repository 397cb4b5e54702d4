"""Connecting a GitHub repository through the App: find the installation, record the repository."""

from __future__ import annotations

from sqlalchemy import select

from lightfast_pipeline.catalog.models import Integration, Repository, SourceType
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_github_settings
from lightfast_pipeline.sources.github import GitHubSource, find_installation, github_client
from lightfast_pipeline.workspaces.repositories import connect_repository


def connect_github_repository(
    runtime: Runtime, full_name: str, workspace_name: str | None, installation_id: str | None, actor: str
) -> Repository:
    """Record ``owner/name`` (by its immutable GitHub id) in the workspace and add its partition.

    The initial sync (trigger ``automatic``) is requested by the repository lifecycle sensor.
    """
    github = load_github_settings()
    installation = installation_id or find_installation(github, full_name)
    source = GitHubSource(github_client(github, installation), full_name)
    repository = connect_repository(
        runtime,
        workspace_name=workspace_name,
        source=source,
        source_type=SourceType.GITHUB.value,
        location=github.api_url,
        installation_id=installation,
        actor=actor,
    )
    with runtime.session() as session:
        integration = session.scalar(
            select(Integration).where(Integration.provider == "github", Integration.external_id == installation)
        )
        if integration is not None and integration.status == "suspended":
            row = session.get(Repository, repository.id)
            assert row is not None
            row.suspended = True
    return repository

"""Listing connected repositories: the catalog models and nothing else, so `lightfast repo list` stays light
(no configuration parsing, sources or activity log: ``workspaces/repositories.py`` changes repositories)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lightfast_pipeline.catalog.models import Repository, Workspace
from lightfast_pipeline.runtime import Runtime


def repository_fields(repository: Repository) -> dict[str, Any]:
    """The public fields of a repository (the JSON of `lightfast repo`); read inside the repository's session."""
    return {
        "id": repository.id,
        "uid": repository.uid,
        "name": repository.full_name,
        "workspace": repository.workspace.slug,
        "source_type": repository.source_type,
        "source_id": repository.source_id,
        "location": repository.location,
        "default_branch": repository.default_branch,
        "config_status": repository.config_status,
        "config_path": repository.config_path,
        "config_error": repository.config_error,
        "config_detected_at": repository.config_detected_at,
        "document_count": repository.document_count,
        "chunk_count": repository.chunk_count,
        "last_ingested_commit": repository.last_ingested_commit,
        "last_ingested_at": repository.last_ingested_at,
        "last_synced_at": repository.last_synced_at,
        "active": repository.active,
        "archived": repository.archived,
        "suspended": repository.suspended,
    }


def list_repositories(
    runtime: Runtime, *, workspace: str | None = None, include_inactive: bool = False
) -> list[dict[str, Any]]:
    """Public fields of the connected repositories (every one with ``include_inactive``), by id.

    ``workspace`` is a workspace slug; an unknown slug lists nothing.
    """
    query = select(Repository).order_by(Repository.id)
    if not include_inactive:
        query = query.where(Repository.active.is_(True))
    if workspace:
        query = query.join(Workspace, Workspace.id == Repository.workspace_id).where(Workspace.slug == workspace)
    with runtime.session() as session:
        return [repository_fields(repository) for repository in session.scalars(query)]

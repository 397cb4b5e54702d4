"""Read models of a workspace: its fields, its repositories and its statistics (API and CLI shapes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import Chunk, Document, Repository, Store, Workspace
from lightfast_pipeline.runs import jobs as runs
from lightfast_pipeline.runtime import Runtime


class NotInWorkspace(LookupError):
    """The id does not exist, or belongs to another workspace (callers answer both alike)."""


def workspace_dict(workspace: Workspace) -> dict[str, Any]:
    """The public fields of a workspace (`lightfast workspace list --json` rows)."""
    return {
        "id": workspace.id,
        "name": workspace.name,
        "slug": workspace.slug,
        "key": workspace.key,
        "organization": workspace.organization.name,
        "default": workspace.is_default,
        "created_at": workspace.created_at,
    }


def list_repositories(session: Session, workspace_id: int, *, active: bool | None = True) -> list[Repository]:
    """A workspace's repositories by id (connected ones, disconnected ones, or both when ``active`` is None)."""
    query = select(Repository).where(Repository.workspace_id == workspace_id).order_by(Repository.id)
    if active is not None:
        query = query.where(Repository.active.is_(active))
    return list(session.scalars(query))


def repository_in_workspace(session: Session, workspace_id: int, repository_id: int) -> Repository:
    """One repository of the workspace, connected or not (:class:`NotInWorkspace` otherwise)."""
    repository = session.get(Repository, repository_id)
    if repository is None or repository.workspace_id != workspace_id:
        raise NotInWorkspace(f"repository {repository_id}")
    return repository


def workspace_statistics(runtime: Runtime, workspace_id: int) -> dict[str, Any]:
    """Sources by type, stores with document and chunk counts, totals, and the jobs of the last 24 hours.

    Read live from the catalog and the run history (`lightfast jobs stats --hours 24` gives the same jobs).
    """
    with runtime.session() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        by_type = dict(
            session.execute(
                select(Repository.source_type, func.count())
                .where(Repository.workspace_id == workspace_id, Repository.active.is_(True))
                .group_by(Repository.source_type)
                .order_by(Repository.source_type)
            ).all()
        )
        documents = dict(
            session.execute(
                select(Document.store_id, func.count())
                .join(Store)
                .where(Store.workspace_id == workspace_id)
                .group_by(Document.store_id)
            ).all()
        )
        chunks = dict(
            session.execute(
                select(Chunk.store_id, func.count())
                .join(Store)
                .where(Store.workspace_id == workspace_id)
                .group_by(Chunk.store_id)
            ).all()
        )
        stores = [
            {
                "slug": store.slug,
                "model": store.embedding_model,
                "documents": documents.get(store.id, 0),
                "chunks": chunks.get(store.id, 0),
            }
            for store in session.scalars(select(Store).where(Store.workspace_id == workspace_id).order_by(Store.slug))
        ]
        slug = workspace.slug
    jobs = runs.statistics(runtime.instance, slug, timedelta(hours=24)).to_dict()
    return {
        "workspace": slug,
        "sources": {"total": sum(by_type.values()), "by_type": by_type},
        "stores": stores,
        "totals": {
            "repositories": sum(by_type.values()),
            "documents": sum(store["documents"] for store in stores),
            "chunks": sum(store["chunks"] for store in stores),
        },
        "jobs_24h": {
            "total": jobs["total"],
            "by_status": jobs["by_status"],
            "success_rate": jobs["success_rate"],
            "avg_duration_ms": jobs["avg_duration_ms"],
        },
    }

"""Organisations and workspaces: names, slugs and keys that never collide."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from slugify import slugify
from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import Organization, Workspace

DEFAULT_ORGANIZATION = "default"
DEFAULT_WORKSPACE = "default"
SLUG_MAX = 60
KEY_MAX = 12


class WorkspaceError(Exception):
    """A user-facing problem with a workspace request."""


def _bounded(base: str, limit: int, name: str, taken: set[str], separator: str) -> str:
    """``base`` cut to ``limit``; a cut adds a hash of the full name, a collision a counter: never silent."""
    candidate = base
    if len(base) > limit:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        candidate = f"{base[: limit - 7].rstrip(separator)}{separator}{digest}"
    counter = 2
    unique = candidate
    while unique in taken:
        suffix = f"{separator}{counter}"
        unique = f"{candidate[: limit - len(suffix)].rstrip(separator)}{suffix}"
        counter += 1
    return unique


def derive_slug(name: str, taken: set[str]) -> str:
    """URL-safe slug of ``name``, unique among ``taken``."""
    base = slugify(name) or "workspace"
    return _bounded(base, SLUG_MAX, name, taken, "-")


def derive_key(name: str, taken: set[str]) -> str:
    """Short lowercase key of ``name`` (used in vector namespaces), unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]", "", slugify(name).lower()) or "ws"
    return _bounded(base, KEY_MAX, name, taken, "")


def get_or_create_organization(
    session: Session, name: str = DEFAULT_ORGANIZATION, actor: str = "system"
) -> Organization:
    """The organisation called ``name``, created with its default workspace when new."""
    name = name.strip()
    if not name:
        raise WorkspaceError("organisation name must not be empty")
    organization = session.scalar(select(Organization).where(Organization.name == name))
    if organization is not None:
        return organization
    taken = set(session.scalars(select(Organization.slug)))
    organization = Organization(name=name, slug=derive_slug(name, taken))
    session.add(organization)
    session.flush()
    create_workspace(session, DEFAULT_WORKSPACE, organization=organization, actor=actor, is_default=True)
    return organization


def create_workspace(
    session: Session,
    name: str,
    *,
    organization: Organization | None = None,
    actor: str = "system",
    is_default: bool = False,
) -> Workspace:
    """Create a workspace; its name must be unique within the organisation."""
    name = name.strip()
    if not name:
        raise WorkspaceError("workspace name must not be empty")
    organization = organization or get_or_create_organization(session, actor=actor)
    exists = session.scalar(
        select(Workspace).where(Workspace.organization_id == organization.id, Workspace.name == name)
    )
    if exists is not None:
        raise WorkspaceError(f"workspace {name!r} already exists in organisation {organization.name!r}")
    workspace = Workspace(
        organization_id=organization.id,
        name=name,
        slug=derive_slug(name, set(session.scalars(select(Workspace.slug)))),
        key=derive_key(name, set(session.scalars(select(Workspace.key)))),
        is_default=is_default,
        created_by=actor,
    )
    session.add(workspace)
    session.flush()
    record_activity(
        session,
        action=actions.WORKSPACE_CREATED,
        entity_type="workspace",
        entity_id=workspace.id,
        actor=actor,
        workspace_id=workspace.id,
        after={"name": workspace.name, "slug": workspace.slug, "organization": organization.name},
    )
    return workspace


def find_workspace(session: Session, ref: str | None, organization: str | None = None) -> Workspace:
    """A workspace by id, slug or name (default organisation's default workspace when ``ref`` is None)."""
    if ref is None:
        org = get_or_create_organization(session, organization or DEFAULT_ORGANIZATION)
        return next(ws for ws in org.workspaces if ws.is_default)
    query = select(Workspace)
    if organization:
        query = query.join(Organization).where(Organization.name == organization)
    candidates = [
        ws for ws in session.scalars(query) if ws.slug == ref or ws.name == ref or (ref.isdigit() and ws.id == int(ref))
    ]
    if not candidates:
        if ref == DEFAULT_WORKSPACE and organization is None:
            return find_workspace(session, None)
        raise WorkspaceError(f"no workspace {ref!r}")
    if len(candidates) > 1:
        raise WorkspaceError(f"workspace {ref!r} is ambiguous: use its slug or --org")
    return candidates[0]


def list_workspaces(session: Session) -> list[Workspace]:
    """Every workspace, by organisation then name."""
    get_or_create_organization(session)
    return list(session.scalars(select(Workspace).join(Organization).order_by(Organization.name, Workspace.name)))


def workspace_fields(workspace: Workspace) -> dict[str, Any]:
    """The public fields of a workspace (the JSON of `lightfast workspace`); read inside its session."""
    return {
        "id": workspace.id,
        "name": workspace.name,
        "slug": workspace.slug,
        "key": workspace.key,
        "organization": workspace.organization.name,
        "default": workspace.is_default,
        "created_at": workspace.created_at,
    }

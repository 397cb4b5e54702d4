"""Creating, listing, revoking and checking API keys (the CLI and the API call these functions).

A key reads ``lfk_<prefix>_<secret>``: the prefix (48 random bits, stored) finds the row, the secret (256
random bits) is never stored; the row holds the SHA-256 of the whole key, compared in constant time. A fast
hash is enough because the secret is random, not a password: nobody can guess 2^256 candidates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import ApiKey, Workspace, utcnow
from lightfast_pipeline.workspaces.workspace import find_workspace

ROLES = ("read", "admin")
KEY_PREFIX = "lfk_"
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class ApiKeyError(Exception):
    """A user-facing problem with a key request (unknown role, unknown key)."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the key's id, name, role and workspace."""

    key_id: int
    name: str
    role: str
    workspace_id: int
    workspace_slug: str

    @property
    def can_mutate(self) -> bool:
        """Admin keys may change state; read keys may only read and search."""
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """The actor recorded in activity rows for this key's mutations."""
        return self.name


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def key_dict(row: ApiKey) -> dict[str, Any]:
    """The public fields of a key (never its hash)."""
    return {
        "id": row.id,
        "name": row.name,
        "workspace": row.workspace.slug,
        "role": row.role,
        "prefix": KEY_PREFIX + row.prefix,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    }


def create_key(
    session: Session, *, workspace: str | None, role: str, name: str | None, actor: str
) -> tuple[dict[str, Any], str]:
    """Create a key; return its public fields and the key itself (shown once, never stored)."""
    if role not in ROLES:
        raise ApiKeyError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    ws = find_workspace(session, workspace)
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        workspace_id=ws.id,
        workspace=ws,
        name=(name or "").strip() or f"key-{prefix}",
        role=role,
        prefix=prefix,
        key_hash=_hash(key),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    record_activity(
        session,
        action=actions.API_KEY_CREATED,
        entity_type="api_key",
        entity_id=row.id,
        actor=actor,
        workspace_id=ws.id,
        after={"name": row.name, "role": role},
    )
    return key_dict(row), key


def list_keys(session: Session, workspace: str | None = None) -> list[dict[str, Any]]:
    """Every key (of one workspace when given), oldest first."""
    query = select(ApiKey).order_by(ApiKey.id)
    if workspace is not None:
        query = query.where(ApiKey.workspace_id == find_workspace(session, workspace).id)
    return [key_dict(row) for row in session.scalars(query)]


def revoke_key(session: Session, key_id: int, *, actor: str) -> dict[str, Any]:
    """Revoke a key: the next request with it answers 401. Revoking twice keeps the first time."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ApiKeyError(f"no API key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_activity(
            session,
            action=actions.API_KEY_REVOKED,
            entity_type="api_key",
            entity_id=row.id,
            actor=actor,
            workspace_id=row.workspace_id,
            before={"name": row.name, "role": row.role},
        )
    return key_dict(row)


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None (the hash comparison is constant time)."""
    prefix = key[len(KEY_PREFIX) :].split("_", 1)[0] if key.startswith(KEY_PREFIX) else ""
    # One statement of plain columns (every API request runs it: no ORM objects to build).
    query = (
        select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.key_hash, ApiKey.revoked_at, Workspace.id, Workspace.slug)
        .join(Workspace, Workspace.id == ApiKey.workspace_id)
        .where(ApiKey.prefix == prefix)
    )
    row = session.execute(query).first() if len(prefix) == 12 else None
    matches = hmac.compare_digest(_hash(key), row.key_hash if row is not None else _DUMMY_HASH)
    if row is None or not matches or row.revoked_at is not None:
        return None
    key_id, name, role, _, _, workspace_id, workspace_slug = row
    return Principal(key_id, name, role, workspace_id, workspace_slug)

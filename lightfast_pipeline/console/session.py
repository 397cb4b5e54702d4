"""Console sign-in: a signed session cookie for an API key, and the CSRF token bound to it.

The cookie never holds the key. It reads ``<key id>.<expiry>.<nonce>.<mac>``, the MAC an HMAC-SHA256 keyed
with the key's stored hash (which only the server knows), so revoking or deleting the key ends its sessions on
the next request and every worker of every host can check a session without shared state. The CSRF token is an
HMAC of the session nonce with the same secret: a page carries it, a mutation must send it back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from fastapi import Request
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import ApiKey, Workspace
from lightfast_pipeline.keys.service import Principal, authenticate

COOKIE = "lf_session"
CSRF_HEADER = "x-csrf-token"
LIFETIME = 12 * 3600  # seconds


def _mac(secret: str, message: str) -> str:
    return hmac.new(bytes.fromhex(secret), message.encode(), hashlib.sha256).hexdigest()


def sign_in(session: Session, key: str) -> tuple[Principal, str] | None:
    """The principal and a new session cookie value for a valid key, else None."""
    principal = authenticate(session, key.strip())
    if principal is None:
        return None
    row = session.get(ApiKey, principal.key_id)
    assert row is not None
    body = f"{row.id}.{int(time.time()) + LIFETIME}.{secrets.token_urlsafe(16)}"
    return principal, f"{body}.{_mac(row.key_hash, body)}"


def _parse(value: str) -> tuple[int, int, str, str] | None:
    parts = value.split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 12:
        return None
    return int(parts[0]), int(parts[1]), parts[2], parts[3]


def resolve(session: Session, value: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a session cookie value; None when forged, expired or revoked."""
    parsed = _parse(value)
    if parsed is None:
        return None
    key_id, expires, nonce, mac = parsed
    if expires < time.time():
        return None
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(_mac(row.key_hash, f"{key_id}.{expires}.{nonce}"), mac):
        return None
    workspace = session.get(Workspace, row.workspace_id)
    assert workspace is not None
    principal = Principal(row.id, row.name, row.role, workspace.id, workspace.slug)
    return principal, _mac(row.key_hash, f"csrf.{nonce}")


def csrf_ok(request: Request, expected: str) -> bool:
    """True when the request carries the session's CSRF token in its header."""
    sent = request.headers.get(CSRF_HEADER) or ""
    return hmac.compare_digest(sent.encode(), expected.encode())

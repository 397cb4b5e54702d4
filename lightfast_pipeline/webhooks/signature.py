"""Verifying GitHub's ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body, hex, ``sha256=`` prefix)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

PREFIX = "sha256="


def signature_for(body: bytes, secret: str) -> str:
    """The header value GitHub sends for ``body`` signed with ``secret``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True when ``header`` matches ``body`` under any configured secret (constant-time compare)."""
    if not header or not header.startswith(PREFIX) or not secrets:
        return False
    matches = [hmac.compare_digest(signature_for(body, secret), header) for secret in secrets]
    return any(matches)  # every secret is compared, so timing does not reveal which one matched

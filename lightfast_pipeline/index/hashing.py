"""SHA-256 helpers: content identity of chunk texts and stable fingerprints of settings."""

from __future__ import annotations

import hashlib

_SEPARATOR = b"\x1f"


def content_hash(text: str) -> str:
    """Hex sha256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_hash(*parts: str) -> str:
    """Hex sha256 of several strings; each part is length-prefixed so ("ab", "c") != ("a", "bc")."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(str(len(data)).encode("ascii"))
        digest.update(_SEPARATOR)
        digest.update(data)
    return digest.hexdigest()

"""Which tree entries become documents: skip reasons, decoding and the document kind."""

from __future__ import annotations

import enum
import posixpath
from typing import Literal

from lightfast_pipeline.sources.base import TreeEntry

BINARY_SNIFF_BYTES = 8 * 1024
MARKDOWN_EXTENSIONS = frozenset({".md", ".mdx", ".markdown"})

DocumentKind = Literal["markdown", "text"]


class SkipReason(enum.StrEnum):
    """Why an entry that matches the config is not indexed (recorded in the catalog)."""

    SYMLINK = "symlink"
    SUBMODULE = "submodule"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    NOT_UTF8 = "not_utf8"
    CONTROL_CHARACTERS = "control_characters_in_name"


def has_control_characters(path: str) -> bool:
    """True when a path holds a newline, tab or another control character (it would corrupt logs and exports)."""
    return any(ord(character) < 32 or ord(character) == 127 for character in path)


def skip_reason_for_entry(entry: TreeEntry, max_file_bytes: int) -> SkipReason | None:
    """Decide from the tree entry alone, before reading any bytes."""
    if has_control_characters(entry.path):
        return SkipReason.CONTROL_CHARACTERS
    if entry.is_symlink:
        return SkipReason.SYMLINK
    if entry.is_submodule:
        return SkipReason.SUBMODULE
    if entry.size is not None and entry.size > max_file_bytes:
        return SkipReason.TOO_LARGE
    return None


def skip_reason_for_bytes(data: bytes, max_file_bytes: int | None = None) -> SkipReason | None:
    """Decide from the bytes: too large, binary (a NUL in the first 8 KiB) or not UTF-8."""
    if max_file_bytes is not None and len(data) > max_file_bytes:
        return SkipReason.TOO_LARGE
    return decode_text(data)[1]


def decode_text(data: bytes) -> tuple[str | None, SkipReason | None]:
    """``(text, None)`` for UTF-8 text (BOM stripped), else ``(None, reason)``."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return None, SkipReason.BINARY
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, SkipReason.NOT_UTF8
    return text.removeprefix("\ufeff"), None


def document_kind(path: str) -> DocumentKind:
    """Markdown files are chunked by structure; every other text file by paragraphs and lines."""
    extension = posixpath.splitext(path)[1].lower()
    return "markdown" if extension in MARKDOWN_EXTENSIONS else "text"

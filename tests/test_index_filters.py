"""Skip reasons, decoding, document kinds and hashing helpers."""

from __future__ import annotations

import hashlib

import pytest

from lightfast_pipeline.index.filters import (
    BINARY_SNIFF_BYTES,
    SkipReason,
    decode_text,
    document_kind,
    skip_reason_for_bytes,
    skip_reason_for_entry,
)
from lightfast_pipeline.index.hashing import content_hash, stable_hash
from lightfast_pipeline.sources.base import (
    MODE_EXECUTABLE,
    MODE_FILE,
    MODE_SUBMODULE,
    MODE_SYMLINK,
    TreeEntry,
)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (TreeEntry("a.md", "b1", 10, MODE_FILE), None),
        (TreeEntry("run.md", "b1", 10, MODE_EXECUTABLE), None),
        (TreeEntry("a.md", "b1", 100, MODE_FILE), None),  # exactly the limit is allowed
        (TreeEntry("a.md", "b1", 101, MODE_FILE), SkipReason.TOO_LARGE),
        (TreeEntry("link.md", "b1", 5, MODE_SYMLINK), SkipReason.SYMLINK),
        (TreeEntry("vendor/lib", "c1", None, MODE_SUBMODULE), SkipReason.SUBMODULE),
        (TreeEntry("unknown-size.md", "b1", None, MODE_FILE), None),
    ],
)
def test_skip_reason_for_entry(entry: TreeEntry, reason: SkipReason | None) -> None:
    assert skip_reason_for_entry(entry, max_file_bytes=100) == reason


def test_decode_text() -> None:
    assert decode_text("héllo\n".encode()) == ("héllo\n", None)
    assert decode_text(b"\xef\xbb\xbf# Title\n") == ("# Title\n", None)  # BOM stripped
    assert decode_text(b"abc\x00def") == (None, SkipReason.BINARY)
    assert decode_text(b"\xff\xfeabc") == (None, SkipReason.NOT_UTF8)
    late_nul = b"a" * BINARY_SNIFF_BYTES + b"\x00"
    assert decode_text(late_nul) == (late_nul.decode(), None)  # only the first 8 KiB are sniffed


def test_skip_reason_for_bytes() -> None:
    assert skip_reason_for_bytes(b"text", max_file_bytes=10) is None
    assert skip_reason_for_bytes(b"x" * 11, max_file_bytes=10) == SkipReason.TOO_LARGE
    assert skip_reason_for_bytes(b"\x00") == SkipReason.BINARY
    assert skip_reason_for_bytes("é".encode("latin-1")) == SkipReason.NOT_UTF8
    assert str(SkipReason.NOT_UTF8) == "not_utf8"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("docs/a.md", "markdown"),
        ("A.MDX", "markdown"),
        ("x.markdown", "markdown"),
        ("notes.txt", "text"),
        ("guide.rst", "text"),
        ("src/app.py", "text"),
        ("Makefile", "text"),
    ],
)
def test_document_kind(path: str, kind: str) -> None:
    assert document_kind(path) == kind


def test_hashes() -> None:
    assert content_hash("héllo") == hashlib.sha256("héllo".encode()).hexdigest()
    assert stable_hash("ab", "c") != stable_hash("a", "bc")
    assert stable_hash("a", "b") == stable_hash("a", "b")
    assert stable_hash() != stable_hash("")
    assert len(stable_hash("x")) == 64

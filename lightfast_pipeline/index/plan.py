"""Plan a run from the tree at the head against what the catalog knows: every path lands in one bucket.

The tree and the catalog's documents are merged in one pass, both in path order (``path_key``: git lists a
tree in that order, SQL reads it with ``ORDER BY path`` in a binary collation), so a run holds neither side
whole: the paths to read go to a callback in path order, and only counts, skipped and vanished paths stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from lightfast_pipeline.sources.base import TreeEntry

T = TypeVar("T")
OnRead = Callable[[str, str, str | None], None]  # (path, blob id, known document uid or None for a new path)


@dataclass(frozen=True)
class KnownDocument:
    """What the catalog holds for a path: the blob it was built from, the config hash, the document uid."""

    blob_id: str
    config_hash: str
    uid: str


@dataclass
class MergedTree:
    """What the merge keeps: the unchanged count, paths skipped before with the same blob, vanished documents."""

    unchanged: int = 0
    skip_known: list[str] = field(default_factory=list)
    vanished: list[tuple[str, KnownDocument]] = field(default_factory=list)  # in path order


def path_key(path: str) -> bytes:
    """The order of paths everywhere in a plan: their UTF-8 bytes (undecodable bytes from git kept as they were)."""
    return path.encode("utf-8", "surrogateescape")


def _in_order(pairs: Iterable[tuple[str, T]], what: str) -> Iterator[tuple[bytes, str, T]]:
    """``(key, path, value)`` of each pair; ValueError unless the paths strictly ascend (the merge needs it)."""
    last: bytes | None = None
    for path, value in pairs:
        key = path_key(path)
        if last is not None and key <= last:
            raise ValueError(f"{what} is not in path order: {path!r} after a path not before it")
        last = key
        yield key, path, value


def merge_tree(
    entries: Iterable[TreeEntry],
    known: Iterable[tuple[str, KnownDocument]],
    skipped: Mapping[str, str],
    config_hash: str,
    on_read: OnRead,
    full: bool = False,
) -> MergedTree:
    """Merge-join ``entries`` (the tree, filtered by the config) with ``known`` (the catalog), both in path order.

    - unchanged: known path, same blob id and config hash; every other known path of the tree is read.
    - skip_known: a path skipped before with the same blob id (not read again).
    - vanished: known documents absent from the tree (renamed or deleted: ``pair_renames``).
    - a path of the tree the catalog does not know is read as new (``on_read`` with no uid).
    - ``full=True`` reads every path of the tree.
    """
    merged = MergedTree()
    documents = _in_order(known, "the catalog")
    document = next(documents, None)
    for key, path, entry in _in_order(((entry.path, entry) for entry in entries), "the tree"):
        while document is not None and document[0] < key:
            merged.vanished.append(document[1:])
            document = next(documents, None)
        if document is not None and document[0] == key:
            found = document[2]
            document = next(documents, None)
            if full or found.blob_id != entry.blob_id or found.config_hash != config_hash:
                on_read(path, entry.blob_id, found.uid)
            else:
                merged.unchanged += 1
        elif not full and skipped.get(path) == entry.blob_id:
            merged.skip_known.append(path)
        else:
            on_read(path, entry.blob_id, None)
    while document is not None:
        merged.vanished.append(document[1:])
        document = next(documents, None)
    return merged


def pair_renames(
    new: Iterable[tuple[str, str]], vanished: list[tuple[str, KnownDocument]], config_hash: str, full: bool = False
) -> tuple[list[tuple[str, str]], list[str]]:
    """Renamed ``(old path, new path)`` pairs and deleted paths, from the new ``(path, blob id)`` in path order.

    A vanished document with the config hash unchanged was renamed to a new path with its blob id; several
    candidates with one blob id are paired in path order. ``new`` is read only when such a document exists.
    """
    renamed_from: dict[str, list[str]] = {}
    if not full:
        for path, document in vanished:
            if document.config_hash == config_hash:
                renamed_from.setdefault(document.blob_id, []).append(path)
    renamed: list[tuple[str, str]] = []
    if renamed_from:
        for path, blob_id in new:
            if sources := renamed_from.get(blob_id):
                renamed.append((sources.pop(0), path))
    paired = {old for old, _new in renamed}
    return renamed, [path for path, _document in vanished if path not in paired]


@dataclass
class TreePlan:
    """Paths by what the run must do with them; ``to_read`` lists each blob to fetch once."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skip_known: list[str] = field(default_factory=list)
    to_read: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of paths per bucket."""
        return {
            "added": len(self.added),
            "modified": len(self.modified),
            "renamed": len(self.renamed),
            "deleted": len(self.deleted),
            "unchanged": len(self.unchanged),
            "skip_known": len(self.skip_known),
        }


def plan_tree(
    entries: list[TreeEntry],
    known: Mapping[str, KnownDocument],
    skipped: Mapping[str, str],
    config_hash: str,
    full: bool = False,
) -> TreePlan:
    """The whole plan in memory, every bucket listed (``merge_tree`` and ``pair_renames`` over sorted inputs).

    For small trees and for checking the planner; a run streams the same two steps (``ingestion/read.py``).
    """
    reads: list[tuple[str, str, str | None]] = []
    unique = {entry.path: entry for entry in entries}
    merged = merge_tree(
        sorted(unique.values(), key=lambda entry: path_key(entry.path)),
        sorted(known.items(), key=lambda item: path_key(item[0])),
        skipped,
        config_hash,
        lambda *read: reads.append(read),
        full,
    )
    new = [(path, blob_id) for path, blob_id, uid in reads if uid is None]
    renamed, deleted = pair_renames(new, merged.vanished, config_hash, full)
    renamed_to = {path for _old, path in renamed}
    kept = [(path, blob_id, uid) for path, blob_id, uid in reads if path not in renamed_to]
    not_unchanged = {path for path, _blob, _uid in reads} | set(merged.skip_known)
    return TreePlan(
        added=[path for path, _blob, uid in kept if uid is None],
        modified=[path for path, _blob, uid in kept if uid is not None],
        renamed=renamed,
        deleted=deleted,
        unchanged=sorted(set(unique) - not_unchanged, key=path_key),
        skip_known=merged.skip_known,
        to_read=list(dict.fromkeys(blob_id for _path, blob_id, _uid in kept)),
    )

"""Plan a run from the tree at the head against what the catalog knows: every path lands in one bucket."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lightfast_pipeline.sources.base import TreeEntry


@dataclass(frozen=True)
class KnownDocument:
    """What the catalog holds for a path: the blob it was built from, the config hash, the document uid."""

    blob_id: str
    config_hash: str
    uid: str


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
    """Compare ``entries`` (the tree, already filtered by the config) with the catalog.

    - unchanged: known path, same blob id and config hash; modified: known path, anything else differs.
    - renamed: a known document's path vanished and its blob id appeared at a new path with the config hash
      unchanged; several candidates with one blob id are paired in path order.
    - skip_known: a path skipped before with the same blob id (not read again).
    - ``full=True`` re-reads everything: known paths are modified, other paths added, no rename pairing.
    """
    plan = TreePlan()
    by_path = {entry.path: entry for entry in sorted(entries, key=lambda entry: entry.path)}
    new_paths: list[str] = []
    for path, entry in by_path.items():
        document = known.get(path)
        if document is None:
            if not full and skipped.get(path) == entry.blob_id:
                plan.skip_known.append(path)
            else:
                new_paths.append(path)
        elif full or document.blob_id != entry.blob_id or document.config_hash != config_hash:
            plan.modified.append(path)
        else:
            plan.unchanged.append(path)

    vanished = sorted(path for path in known if path not in by_path)
    renamed_from: dict[str, list[str]] = {}
    if not full:
        for path in vanished:
            if known[path].config_hash == config_hash:
                renamed_from.setdefault(known[path].blob_id, []).append(path)
    paired: set[str] = set()
    for path in new_paths:
        sources = renamed_from.get(by_path[path].blob_id)
        if sources:
            old_path = sources.pop(0)
            paired.add(old_path)
            plan.renamed.append((old_path, path))
        else:
            plan.added.append(path)
    plan.deleted = [path for path in vanished if path not in paired]

    seen: set[str] = set()
    for path in sorted([*plan.added, *plan.modified]):
        blob_id = by_path[path].blob_id
        if blob_id not in seen:
            seen.add(blob_id)
            plan.to_read.append(blob_id)
    return plan

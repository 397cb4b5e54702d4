"""Vector ids of a document's chunks and what to do with each: keep, reuse a stored vector, embed, delete.

Vector id = ``{repository_uid}:{document_uid}:{content_hash[:16]}`` plus ``~{n}`` for the n-th repeat of the
same text in the document (docs/architecture.md): ids are keyed by content, so inserting a section leaves
every other chunk's id, and its vector, untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lightfast_pipeline.index.chunking import ChunkDraft


def vector_id(repository_uid: str, document_uid: str, content_hash: str, occurrence: int = 0) -> str:
    """Id of the ``occurrence``-th (0-based) chunk of this text in the document."""
    base = f"{repository_uid}:{document_uid}:{content_hash[:16]}"
    return f"{base}~{occurrence}" if occurrence else base


@dataclass
class ChunkPlan:
    """``vector_ids[i]`` is the id of draft ``i``; every id is in exactly one of keep, reuse, embed."""

    vector_ids: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    reuse: list[tuple[str, str]] = field(default_factory=list)  # (new id, stored id with the same text)
    embed: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of chunks kept, reused, to embed, and dead vectors."""
        return {
            "keep": len(self.keep),
            "reuse": len(self.reuse),
            "embed": len(self.embed),
            "dead": len(self.dead),
        }


def plan_chunks(
    repository_uid: str,
    document_uid: str,
    drafts: Sequence[ChunkDraft],
    existing: Mapping[str, str],
    lookup_existing_vector: Callable[[str], str | None],
) -> ChunkPlan:
    """Plan one document's chunks.

    ``existing`` maps the document's current vector ids to their content hash; ``lookup_existing_vector``
    finds a stored vector with a given content hash (any document of the store) or returns None. Drafts
    that repeat a text share its content hash: an embedder may embed that text once for all of them.
    """
    plan = ChunkPlan()
    occurrences: dict[str, int] = {}
    for draft in drafts:
        occurrence = occurrences.get(draft.content_hash, 0)
        occurrences[draft.content_hash] = occurrence + 1
        new_id = vector_id(repository_uid, document_uid, draft.content_hash, occurrence)
        plan.vector_ids.append(new_id)
        if existing.get(new_id) == draft.content_hash:
            plan.keep.append(new_id)
            continue
        source = lookup_existing_vector(draft.content_hash)
        if source is not None and source != new_id:
            plan.reuse.append((new_id, source))
        else:
            plan.embed.append(new_id)
    wanted = set(plan.vector_ids)
    plan.dead = sorted(old_id for old_id in existing if old_id not in wanted)
    return plan

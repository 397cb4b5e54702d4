"""What each ingestion stage hands to the next (plain data; only `RunPlan` holds a file: its reads on disk)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lightfast_pipeline.index.chunking import ChunkDraft
from lightfast_pipeline.ingestion.reads import PlannedRead, PlannedReads


@dataclass
class ParsedFile:
    """A document read at this commit (new or changed content)."""

    path: str
    blob_id: str
    content_hash: str
    size: int
    title: str
    frontmatter: dict[str, Any]
    body: str
    relationships: dict[str, Any]
    kind: str  # "markdown" | "text"
    uid: str
    is_new: bool


@dataclass
class Rename:
    """A document whose path changed with identical content: only the catalog row moves."""

    uid: str
    old_path: str
    new_path: str


@dataclass
class RunPlan:
    """What a run must do, from ids only (tree against catalog): the batches read from ``to_read``.

    ``to_read`` is on disk (``ingestion/reads.py``), so this object stays small at any repository size; it is
    the one stage object that is not picklable (it never passes through Dagster's IO manager).
    """

    repository_id: int
    repository_uid: str
    run_id: str
    commit: str | None
    store_id: int | None
    config_hash: str
    config_status: str
    max_file_bytes: int | None
    to_read: PlannedReads = field(default_factory=PlannedReads)
    renamed: list[Rename] = field(default_factory=list)
    deleted_uids: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (blob id, reason)
    api_calls: int = 0
    seconds_plan: float = 0.0
    head_unchanged: bool = False  # the head is the last ingested commit: nothing is read from the source

    def batch_count(self, size: int) -> int:
        """How many batches ``batches(size)`` yields."""
        return max(1, -(-len(self.to_read) // size))

    def batches(self, size: int) -> Iterator[list[PlannedRead]]:
        """``to_read`` in batches of ``size``, read one at a time; always at least one (it carries renames,
        deletes, the commit)."""
        batch: list[PlannedRead] = []
        for planned in self.to_read:
            batch.append(planned)
            if len(batch) == size:
                yield batch
                batch = []
        if batch or not len(self.to_read):
            yield batch


@dataclass
class DocumentsStage:
    """One batch of read documents (the first batch also carries the run's renames and deletes)."""

    repository_id: int
    repository_uid: str
    run_id: str
    commit: str | None
    store_id: int | None
    config_hash: str
    changed: list[ParsedFile] = field(default_factory=list)
    renamed: list[Rename] = field(default_factory=list)
    deleted_uids: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (blob id, reason)
    blobs_read: int = 0
    api_calls: int = 0
    config_status: str = "configured"
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def added(self) -> int:
        return sum(1 for doc in self.changed if doc.is_new)

    @property
    def modified(self) -> int:
        return sum(1 for doc in self.changed if not doc.is_new) + len(self.renamed)


@dataclass
class DocumentChunks:
    """The chunk plan of one changed document."""

    document: ParsedFile
    drafts: list[ChunkDraft]
    vector_ids: list[str]  # one per draft, in order
    keep: list[str]
    reuse: list[tuple[str, str]]  # (new id, id of an existing vector with the same content)
    embed: list[str]
    dead: list[str]


@dataclass
class ChunksStage:
    documents: DocumentsStage
    plans: list[DocumentChunks] = field(default_factory=list)
    dead_from_deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def dead(self) -> list[str]:
        return [vid for plan in self.plans for vid in plan.dead] + self.dead_from_deleted


@dataclass
class IngestReport:
    """Counts and timings of one run (the `lightfast ingest --json` summary and materialisation metadata)."""

    commit: str | None
    documents: dict[str, int]
    chunks: dict[str, int]
    seconds: dict[str, float]
    blobs_read: int
    api_calls: int
    config_status: str
    skipped: dict[str, str]  # path -> reason
    batches: int = 1

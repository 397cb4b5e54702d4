"""One run in batches: plan from ids, then read → chunk → embed → commit a few hundred documents at a time.

Memory holds the plan's counts, renames and deletes (its files to read are on disk, ``ingestion/reads.py``)
and one batch of blobs, chunks and vectors, so it does not grow with the repository. Each batch goes through
the commit point (``write.write_index``): a killed run keeps the batches it committed, and the next run's plan
finds their documents unchanged (same blob id and chunking fingerprint), so it reads and embeds only what was
not committed.

Renames and deletions ride in the **first** batch. The other order was weighed: deleting last would let search
return paths that no longer exist for the whole run (and, after a kill, until the next run finishes). Deleting
first never loses a document: what is deleted is absent at the head, and every document still to be written
is not in the catalog, so the next run plans it as added. The price is reuse: a chunk of a deleted document
that reappears in an added one (a file moved and edited) is embedded again instead of copied.

Only the final batch advances ``last_ingested_commit`` (with the skipped files and the parents), so a
partially ingested head never looks complete to reconciliation, ``repo list`` or index truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lightfast_pipeline.ingestion import faults
from lightfast_pipeline.ingestion.chunk import chunk_documents
from lightfast_pipeline.ingestion.progress import BatchDone
from lightfast_pipeline.ingestion.read import plan_documents, read_batch
from lightfast_pipeline.ingestion.stages import ChunksStage, IngestReport, RunPlan
from lightfast_pipeline.ingestion.write import write_index
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_ingest_settings
from lightfast_pipeline.sources.base import Source

OnBatch = Callable[[BatchDone], None]
OnPlan = Callable[[RunPlan, int], None]


@dataclass
class BatchedRun:
    """What a batched run did: its plan, the summed report, and chunk plan counts (materialisation metadata)."""

    plan: RunPlan
    report: IngestReport
    chunk_counts: dict[str, int] = field(default_factory=dict)
    batch_documents: int = 0


def _chunk_counts(stage: ChunksStage) -> dict[str, int]:
    return {
        "to_embed": sum(len(plan.embed) for plan in stage.plans),
        "to_reuse": sum(len(plan.reuse) for plan in stage.plans),
        "kept": sum(len(plan.keep) for plan in stage.plans),
        "to_delete": len(stage.dead),
    }


def _add(total: IngestReport | None, batch: IngestReport) -> IngestReport:
    if total is None:
        return batch
    return IngestReport(
        commit=batch.commit,
        documents={key: total.documents[key] + value for key, value in batch.documents.items()},
        chunks={key: total.chunks[key] + value for key, value in batch.chunks.items()},
        seconds={key: total.seconds.get(key, 0.0) + value for key, value in batch.seconds.items()},
        blobs_read=total.blobs_read + batch.blobs_read,
        api_calls=batch.api_calls,  # the source counts for the whole run
        config_status=batch.config_status,
        skipped=batch.skipped,
        batches=total.batches + 1,
    )


def ingest_in_batches(
    runtime: Runtime,
    repository_id: int,
    source: Source,
    *,
    run_id: str,
    full: bool = False,
    actor: str = "system",
    batch_documents: int | None = None,
    on_batch: OnBatch | None = None,
    on_plan: OnPlan | None = None,
) -> BatchedRun:
    """Plan, then read, chunk, embed and commit ``batch_documents`` files at a time (default from settings).

    ``on_plan`` hears the plan and its number of batches before the first read (the commit the run indexes is
    known from then on); ``on_batch`` hears each committed batch.
    """
    size = batch_documents or load_ingest_settings().batch_documents
    plan = plan_documents(runtime, repository_id, source, run_id=run_id, full=full, actor=actor)
    try:
        report, counts = _run_batches(runtime, source, plan, size, on_batch, on_plan)
    finally:
        plan.to_read.close()
    report.documents["unchanged"] = plan.unchanged
    report.seconds = {"plan": plan.seconds_plan, **report.seconds}
    return BatchedRun(plan=plan, report=report, chunk_counts=counts, batch_documents=size)


def _run_batches(
    runtime: Runtime, source: Source, plan: RunPlan, size: int, on_batch: OnBatch | None, on_plan: OnPlan | None
) -> tuple[IngestReport, dict[str, int]]:
    """Read, chunk, embed and commit each batch of the plan; the summed report and chunk plan counts."""
    batches = plan.batch_count(size)
    if on_plan is not None:
        on_plan(plan, batches)
    skipped = dict(plan.skipped)
    report: IngestReport | None = None
    counts: dict[str, int] = {}
    done = 0
    for number, batch in enumerate(plan.batches(size), start=1):
        final = number == batches
        faults.reached("before", "read", number)
        documents = read_batch(source, plan, batch, renames_and_deletes=number == 1)
        faults.reached("after", "read", number)
        skipped.update(documents.skipped)
        if final:
            documents.skipped = skipped  # the final commit records every skipped file of the run
        faults.reached("before", "chunk", number)
        chunks = chunk_documents(runtime, documents)
        faults.reached("after", "chunk", number)
        for key, value in _chunk_counts(chunks).items():
            counts[key] = counts.get(key, 0) + value
        report = _add(report, write_index(runtime, chunks, batch=number, final=final))
        done += len(batch)
        if on_batch is not None:
            on_batch(BatchDone(number, batches, done, len(plan.to_read)))
    assert report is not None
    report.documents["skipped"] = len(skipped)
    return report, counts

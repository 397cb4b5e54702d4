"""Ingestion, partitioned per repository: one multi-asset over ``documents → chunks → embeddings``.

One unit that cannot be subset: the repository lease is held from the first read to the commit and the
``index_truth`` check, so the UI cannot materialise ``embeddings`` alone and no stage replays a stored plan.
The body is thin: the work lives in ``lightfast_pipeline.ingestion`` (plain Python over the catalog, the
source, the embedder and the store). A run from the Dagster UI and ``lightfast ingest`` are the same job.
"""

import time
from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import Repository
from lightfast_pipeline.checks.ingestion import index_truth_check, index_truth_error, index_truth_result
from lightfast_pipeline.ingestion import progress as batch_progress
from lightfast_pipeline.ingestion.batches import BatchedRun, ingest_in_batches
from lightfast_pipeline.ingestion.lifecycle import RepositoryUnavailable, begin_ingestion, end_ingestion
from lightfast_pipeline.ingestion.read import ConfigInvalid
from lightfast_pipeline.ingestion.stages import IngestReport, RunPlan
from lightfast_pipeline.ingestion.verify import index_truth
from lightfast_pipeline.jobs.partitions import repositories_partitions
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.embedder import EmbedderResource
from lightfast_pipeline.resources.github import GitHubAppResource
from lightfast_pipeline.resources.vector_store import VectorStoreResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import Source
from lightfast_pipeline.sources.factory import source_for

GROUP = "ingestion"


class IngestConfig(Config):
    """``full``: re-read and re-chunk every file (vectors are still reused by content hash)."""

    full: bool = False


def _run_is_alive(context: AssetExecutionContext):
    def alive(run_id: str) -> bool:
        run = context.instance.get_run_by_id(run_id)
        return run is not None and not run.is_finished

    return alive


def _fail_dead_run(context: AssetExecutionContext):
    """A run whose process died still shows as started in the embedded default: mark it failed."""

    def fail(run_id: str) -> None:
        run = context.instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            context.instance.report_run_failed(
                run, message=f"run process died; repository taken over by {context.run_id}"
            )
        context.log.warning(f"took over the repository from dead run {run_id}; repairing what it left")

    return fail


def _progress(context: AssetExecutionContext):
    def progress(done: batch_progress.BatchDone) -> None:
        context.log.info(
            f"batch {done.batch}/{done.batches} committed: {done.documents}/{done.documents_total} documents"
        )
        context.log_event(
            AssetObservation(
                asset_key="embeddings",
                partition=context.partition_key,
                metadata={
                    "batches_committed": done.batch,
                    "batches": done.batches,
                    "documents_committed": done.documents,
                    "documents_to_index": done.documents_total,
                },
            )
        )
        batch_progress.report(done)

    return progress


def _planned(context: AssetExecutionContext):
    def planned(plan: RunPlan, batches: int) -> None:
        """Observe the plan on ``documents``: the commit this run indexes is known before its first batch."""
        context.log_event(
            AssetObservation(
                asset_key="documents",
                partition=context.partition_key,
                metadata={
                    "commit": plan.commit or "",
                    "documents_to_read": len(plan.to_read),
                    "unchanged": plan.unchanged,
                    "batches": batches,
                },
            )
        )

    return planned


def _complete_job_tags(context: AssetExecutionContext, repository: Repository) -> None:
    """A run launched from the UI has no job tags: record it as a manual run of this repository."""
    if tags.TRIGGER in context.run.tags:
        return
    context.instance.add_run_tags(
        context.run_id,
        {
            tags.TRIGGER: "manual",
            tags.USER: context.run.tags.get("dagster/user", "dagster-ui"),
            tags.WORKSPACE: repository.workspace.slug,
            tags.REPOSITORY: repository.uid,
            tags.REPOSITORY_NAME: repository.full_name,
        },
    )


def _elapsed_ms(context: AssetExecutionContext) -> float | None:
    """Time since the run started (the job's duration when called at its end)."""
    record = context.instance.get_run_record_by_id(context.run_id)
    if record is None or record.start_time is None:
        return None
    return max(0.0, (time.time() - record.start_time) * 1000)


def _abort(context: AssetExecutionContext, runtime: Runtime, repository_id: int, error: BaseException) -> None:
    end_ingestion(runtime, repository_id, context.run_id, None, duration_ms=_elapsed_ms(context), error=error)


def _documents_metadata(run: BatchedRun) -> dict:
    report = run.report
    return {
        "commit": MetadataValue.text(report.commit or ""),
        "files_to_index": len(run.plan.to_read),
        "files_renamed": len(run.plan.renamed),
        "blobs_read": report.blobs_read,
        "api_calls": report.api_calls,
        "seconds_read": round(report.seconds.get("plan", 0) + report.seconds.get("read", 0), 3),
    }


def _chunks_metadata(run: BatchedRun) -> dict:
    return {
        **{f"chunks_{key}": value for key, value in run.chunk_counts.items()},
        "seconds_chunk": round(run.report.seconds.get("chunk", 0), 3),
    }


def _embeddings_metadata(report: IngestReport, batch_documents: int) -> dict:
    return {
        "commit": MetadataValue.text(report.commit or ""),
        "batches": report.batches,
        "batch_documents": batch_documents,
        **{f"documents_{key}": value for key, value in report.documents.items()},
        **{f"chunks_{key}": value for key, value in report.chunks.items()},
        **{f"seconds_{key}": round(value, 3) for key, value in report.seconds.items()},
        "report": MetadataValue.json(
            {
                "commit": report.commit,
                "documents": report.documents,
                "chunks": report.chunks,
                "skipped": report.skipped,
                "batches": report.batches,
            }
        ),
    }


def _check_index(runtime: Runtime, repository_id: int, source: Source, *, source_unchanged: bool) -> AssetCheckResult:
    """The run's index-truth check (``source_unchanged``: the head was already verified, the source is not read)."""
    try:
        truth = index_truth(runtime, repository_id, source, source_unchanged=source_unchanged)
        return index_truth_result(truth)
    except Exception as error:  # the index is committed: report the check as failed, not the run
        return index_truth_error(error)


@multi_asset(
    name="ingestion",
    specs=[
        AssetSpec(
            "documents",
            description="The repository's documents at its branch head, planned against the catalog "
            "(only changed blobs read).",
            group_name=GROUP,
            kinds={"python", "git"},
        ),
        AssetSpec(
            "chunks",
            deps=["documents"],
            description="Structure-aware chunks of changed documents, each marked keep / reuse / embed / delete.",
            group_name=GROUP,
            kinds={"python"},
        ),
        AssetSpec(
            "embeddings",
            deps=["chunks"],
            description="Vectors in the workspace's store, equal to the chunk ledger once this step commits.",
            group_name=GROUP,
            kinds={"python", "lancedb"},
        ),
    ],
    check_specs=[index_truth_check],
    partitions_def=repositories_partitions,
    can_subset=False,
)
def ingestion(
    context: AssetExecutionContext,
    config: IngestConfig,
    catalog: CatalogResource,
    embedder: EmbedderResource,
    vector_store: VectorStoreResource,
    github: GitHubAppResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """One ingestion of a repository, as one unit under its lease: plan, then read → chunk → embed → commit in
    batches (``ingestion/batches.py``), then check.

    Each committed batch is logged and observed on ``embeddings`` (batches and documents so far); the three
    materialisations, with the run's totals, are reported when the last batch has committed. Nothing passes
    between them through storage, so no stage can replay another run's plan.
    """
    settings = catalog.settings()
    runtime = catalog.runtime(
        context.instance,
        embedder=embedder.build(settings),
        vector_store=vector_store.build(settings),
        github=github.github_settings(),
    )
    full = config.full or context.run.tags.get(tags.FULL_REINDEX) == "true"
    user = context.run.tags.get(tags.USER, "system")
    try:
        repository_id = begin_ingestion(
            runtime,
            context.partition_key,
            context.run_id,
            _run_is_alive(context),
            on_wait=lambda holder: context.log.info(f"waiting for run {holder} to finish this repository"),
            on_takeover=_fail_dead_run(context),
        )
    except RepositoryUnavailable as error:
        raise Failure(description=str(error)) from error
    try:
        with runtime.session() as session:
            repository = session.get(Repository, repository_id)
            _complete_job_tags(context, repository)
            source = source_for(repository, runtime.settings, runtime.github)
        run = ingest_in_batches(
            runtime,
            repository_id,
            source,
            run_id=context.run_id,
            full=full,
            actor=user,
            on_batch=_progress(context),
            on_plan=_planned(context),
        )
        report, head_unchanged = run.report, run.plan.head_unchanged
        metadata = [_documents_metadata(run), _chunks_metadata(run), _embeddings_metadata(report, run.batch_documents)]
        del run  # the plan (a path and blob id per file read) is not kept beside the check's id sets (issue 15)
        check = _check_index(runtime, repository_id, source, source_unchanged=head_unchanged)
    except ConfigInvalid as error:
        _abort(context, runtime, repository_id, error)
        raise Failure(description=f"invalid lightfast.yml, nothing changed: {error}") from error
    except BaseException as error:
        _abort(context, runtime, repository_id, error)
        raise
    end_ingestion(runtime, repository_id, context.run_id, report, duration_ms=_elapsed_ms(context))
    for key, values in zip(("documents", "chunks", "embeddings"), metadata, strict=True):
        yield MaterializeResult(asset_key=key, metadata=values)
    yield check


ingestion_assets = [ingestion]

"""Ingestion assets, partitioned per repository: documents → chunks → embeddings.

Each body is thin: the work lives in ``lightfast_pipeline.ingestion`` (plain Python over the catalog, the
source, the embedder and the store). A run from the Dagster UI and ``lightfast ingest`` are the same job.
"""

import time

from dagster import (
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import Repository
from lightfast_pipeline.ingestion import progress as embedding_progress
from lightfast_pipeline.ingestion.chunk import chunk_documents
from lightfast_pipeline.ingestion.lifecycle import RepositoryUnavailable, begin_ingestion, end_ingestion
from lightfast_pipeline.ingestion.read import ConfigInvalid, read_documents
from lightfast_pipeline.ingestion.stages import ChunksStage, DocumentsStage
from lightfast_pipeline.ingestion.write import write_index
from lightfast_pipeline.jobs.partitions import repositories_partitions
from lightfast_pipeline.resources.lightfast import (
    CatalogResource,
    EmbedderResource,
    VectorStoreResource,
    runtime_from_resources,
)
from lightfast_pipeline.sources.factory import source_for

GROUP = "ingestion"


class IngestConfig(Config):
    """``full``: re-read and re-chunk every file (vectors are still reused by content hash)."""

    full: bool = False


def _runtime(context: AssetExecutionContext, catalog, embedder, vector_store):
    return runtime_from_resources(catalog, embedder, vector_store, context.instance)


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
    def progress(done: int, total: int) -> None:
        context.log.debug(f"embedded {done}/{total} chunks")
        embedding_progress.report(done, total)

    return progress


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


def _abort(context: AssetExecutionContext, runtime, stage_or_id, error: BaseException) -> None:
    repository_id = stage_or_id if isinstance(stage_or_id, int) else stage_or_id.repository_id
    end_ingestion(runtime, repository_id, context.run_id, None, duration_ms=_elapsed_ms(context), error=error)


@asset(partitions_def=repositories_partitions, group_name=GROUP, kinds={"python", "git"})
def documents(
    context: AssetExecutionContext,
    config: IngestConfig,
    catalog: CatalogResource,
    embedder: EmbedderResource,
    vector_store: VectorStoreResource,
) -> Output[DocumentsStage]:
    """The repository's documents at its branch head, planned against the catalog (only changed blobs read)."""
    runtime = _runtime(context, catalog, embedder, vector_store)
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
            source = source_for(repository, runtime.settings)
        stage = read_documents(runtime, repository_id, source, run_id=context.run_id, full=full, actor=user)
    except ConfigInvalid as error:
        _abort(context, runtime, repository_id, error)
        raise Failure(description=f"invalid lightfast.yml, nothing changed: {error}") from error
    except BaseException as error:
        _abort(context, runtime, repository_id, error)
        raise
    return Output(
        stage,
        metadata={
            "commit": MetadataValue.text(stage.commit or ""),
            "files_to_index": len(stage.changed),
            "files_renamed": len(stage.renamed),
            "blobs_read": stage.blobs_read,
            "api_calls": stage.api_calls,
            "seconds_read": round(stage.seconds.get("plan", 0) + stage.seconds.get("read", 0), 3),
        },
    )


@asset(partitions_def=repositories_partitions, group_name=GROUP, kinds={"python"})
def chunks(
    context: AssetExecutionContext,
    documents: DocumentsStage,
    catalog: CatalogResource,
    embedder: EmbedderResource,
    vector_store: VectorStoreResource,
) -> Output[ChunksStage]:
    """Structure-aware chunks of changed documents, each marked keep / reuse / embed / delete."""
    runtime = _runtime(context, catalog, embedder, vector_store)
    try:
        stage = chunk_documents(runtime, documents)
    except BaseException as error:
        _abort(context, runtime, documents, error)
        raise
    return Output(
        stage,
        metadata={
            "chunks_to_embed": sum(len(plan.embed) for plan in stage.plans),
            "chunks_to_reuse": sum(len(plan.reuse) for plan in stage.plans),
            "chunks_kept": sum(len(plan.keep) for plan in stage.plans),
            "chunks_to_delete": len(stage.dead),
            "seconds_chunk": round(stage.seconds, 3),
        },
    )


@asset(partitions_def=repositories_partitions, group_name=GROUP, kinds={"python", "lancedb"})
def embeddings(
    context: AssetExecutionContext,
    chunks: ChunksStage,
    catalog: CatalogResource,
    embedder: EmbedderResource,
    vector_store: VectorStoreResource,
) -> MaterializeResult:
    """Vectors in the workspace's store, equal to the chunk ledger once this step commits."""
    runtime = _runtime(context, catalog, embedder, vector_store)
    try:
        report = write_index(runtime, chunks, progress=_progress(context))
    except BaseException as error:
        _abort(context, runtime, chunks.documents, error)
        raise
    end_ingestion(runtime, chunks.documents.repository_id, context.run_id, report, duration_ms=_elapsed_ms(context))
    return MaterializeResult(
        metadata={
            "commit": MetadataValue.text(report.commit or ""),
            **{f"documents_{key}": value for key, value in report.documents.items()},
            **{f"chunks_{key}": value for key, value in report.chunks.items()},
            **{f"seconds_{key}": round(value, 3) for key, value in report.seconds.items()},
            "report": MetadataValue.json(
                {
                    "commit": report.commit,
                    "documents": report.documents,
                    "chunks": report.chunks,
                    "skipped": report.skipped,
                }
            ),
        }
    )


ingestion_assets = [documents, chunks, embeddings]

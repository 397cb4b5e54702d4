"""Launching the ingestion job on the Dagster instance from the CLI (same job the UI and sensors run)."""

from __future__ import annotations

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable
from dagster._core.execution.job_execution_result import JobExecutionResult

from lightfast_pipeline import tags


def ingest_job_definition() -> JobDefinition:
    """The `ingest_repository` job with the project's resources bound (module-level for `reconstructable`)."""
    from lightfast_pipeline.definitions import defs

    return defs.resolve_job_def("ingest_repository")


def ingestion_tags(
    *,
    trigger: str,
    user: str,
    workspace_slug: str,
    repository_uid: str,
    repository_name: str,
    full: bool = False,
) -> dict[str, str]:
    """The run tags that make a run a job record (see tags.py)."""
    run_tags = {
        "dagster/partition": repository_uid,
        tags.TRIGGER: trigger,
        tags.USER: user,
        tags.WORKSPACE: workspace_slug,
        tags.REPOSITORY: repository_uid,
        tags.REPOSITORY_NAME: repository_name,
    }
    if full:
        run_tags[tags.FULL_REINDEX] = "true"
    return run_tags


def run_ingestion(instance: DagsterInstance, run_tags: dict[str, str]) -> JobExecutionResult:
    """Execute one ingestion run in this process, recorded on the instance like any other run."""
    return execute_job(
        reconstructable(ingest_job_definition),
        instance=instance,
        tags=run_tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def run_status(result: JobExecutionResult) -> str:
    """Job status vocabulary of the jobs API (completed / failed / cancelled)."""
    run = result.dagster_run
    name = run.status.value if run is not None else ("SUCCESS" if result.success else "FAILURE")
    return {"SUCCESS": "completed", "FAILURE": "failed", "CANCELED": "cancelled"}.get(name, name.lower())


def failure_message(result: JobExecutionResult) -> str | None:
    """The user-facing error of a failed run (a Failure's description, else the exception message)."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            return error.message.strip().splitlines()[-1]
    return None


def ingest_report(result: JobExecutionResult) -> dict:
    """The run's summary as reported by the `embeddings` materialisation (empty when it did not get there)."""
    for event in result.all_events:
        if event.is_step_materialization and event.asset_key and event.asset_key.path == ["embeddings"]:
            return event.event_specific_data.materialization.metadata["report"].value
    return {}

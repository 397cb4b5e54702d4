"""Metrics sensors: a debounced warehouse refresh after ingestion runs, and the time-to-searchable recorder on
every successful run that served a webhook delivery."""

from datetime import UTC, datetime

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from lightfast_pipeline.jobs.metrics import rebuild_metrics_job, refresh_warehouse_job
from lightfast_pipeline.metrics.freshness import models_current
from lightfast_pipeline.metrics.searchable import record_time_to_searchable
from lightfast_pipeline.resources.catalog import CatalogResource

INGEST_JOB = "ingest_repository"
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
PENDING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING]


@sensor(
    jobs=[refresh_warehouse_job, rebuild_metrics_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def warehouse_after_ingestion(context: SensorEvaluationContext, catalog: CatalogResource) -> RunRequest | SkipReason:
    """Debounced: at most one refresh per minute, none while one is pending, only after new finished runs.

    The refresh is ``rebuild_metrics`` (with the dbt build) when the warehouse lacks this project version's
    models, else ``refresh_warehouse`` (the models are views: a load is enough)."""
    cursor = float(context.cursor) if context.cursor else 0.0
    finished = context.instance.get_run_records(
        RunsFilter(job_name=INGEST_JOB, statuses=FINISHED, updated_after=datetime.fromtimestamp(cursor, UTC)),
        limit=1,
        order_by="update_timestamp",
        ascending=False,
    )
    if not finished:
        return SkipReason("no ingestion run finished since the last refresh")
    for job in (refresh_warehouse_job, rebuild_metrics_job):
        if context.instance.get_runs_count(RunsFilter(job_name=job.name, statuses=PENDING)):
            return SkipReason("a warehouse refresh is already waiting to start")
    newest = finished[0].update_timestamp.timestamp()
    context.update_cursor(str(newest))
    job = refresh_warehouse_job if models_current(catalog.settings().warehouse_path) else rebuild_metrics_job
    return RunRequest(run_key=f"after-ingestion-{newest}", job_name=job.name)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="time_to_searchable",
    minimum_interval_seconds=30,
    monitor_all_code_locations=True,  # the ingestion job lives in the other location, whatever its name
    default_status=DefaultSensorStatus.RUNNING,
)
def time_to_searchable_sensor(context: RunStatusSensorContext, catalog: CatalogResource) -> None:
    """Record delivery received -> run completed for every delivery the successful ingestion run served.

    Returns nothing for runs it ignores: one tick handles several runs, and Dagster refuses a tick that mixes
    a SkipReason with the reactions to other runs."""
    run = context.dagster_run
    if run.job_name != INGEST_JOB:
        return None
    record = context.instance.get_run_record_by_id(run.run_id)
    if record is None or record.end_time is None:
        context.log.warning("run %s has no end time: no time_to_searchable recorded", run.run_id)
        return None
    with catalog.session() as session:
        points = record_time_to_searchable(session, run.run_id, run.tags, datetime.fromtimestamp(record.end_time, UTC))
    context.log.info("run %s: %d time_to_searchable point(s)", run.run_id, len(points))
    return None


metrics_sensors = [warehouse_after_ingestion, time_to_searchable_sensor]

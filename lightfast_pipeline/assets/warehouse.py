"""The warehouse asset and what keeps it fresh: a schedule, a debounced refresh after ingestion runs, and
the time-to-searchable recorder on every successful run that served a webhook delivery."""

from collections.abc import Iterator
from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AssetSpec,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MaterializeResult,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    multi_asset,
    run_status_sensor,
    sensor,
)

from lightfast_pipeline.assets.dbt import METRICS_GROUP, WAREHOUSE_POOL, dbt_metrics_models, warehouse_metrics
from lightfast_pipeline.catalog.db import session_scope
from lightfast_pipeline.metrics.loader import RAW_TABLES
from lightfast_pipeline.metrics.refresh import ensure_models, load_into
from lightfast_pipeline.metrics.searchable import record_time_to_searchable
from lightfast_pipeline.metrics.writer import warehouse_writer
from lightfast_pipeline.resources.lightfast import CatalogResource
from lightfast_pipeline.settings import load_settings

INGEST_JOB = "ingest_repository"
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
PENDING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING]


@multi_asset(
    name="warehouse_raw",
    group_name=METRICS_GROUP,
    pool=WAREHOUSE_POOL,
    specs=[AssetSpec(["raw", table], description=f"raw.{table} in the DuckDB warehouse") for table in RAW_TABLES],
    description="Runs, metric points, deliveries, documents and stores loaded incrementally into DuckDB.",
)
def warehouse_raw(context: AssetExecutionContext, catalog: CatalogResource) -> Iterator[MaterializeResult]:
    """Load what changed since the last refresh into a copy of the warehouse, then swap it in."""
    settings = catalog.resolve(load_settings())
    with warehouse_writer(settings.warehouse_path) as building:
        loaded = load_into(building, context.instance, settings.database_url)
        built = ensure_models(building)  # only when this project version's models are not there yet
    context.log.info(f"warehouse loaded {loaded} (dbt models built: {built})")
    for table in RAW_TABLES:
        yield MaterializeResult(asset_key=["raw", table], metadata={"rows_loaded": loaded[table]})


refresh_warehouse_job = define_asset_job(
    "refresh_warehouse",
    selection=AssetSelection.assets(warehouse_raw, warehouse_metrics),
    executor_def=in_process_executor,
    description="Incremental warehouse load and the metrics it publishes (the models are views: no dbt run).",
)

rebuild_metrics_job = define_asset_job(
    "rebuild_metrics",
    selection=AssetSelection.assets(warehouse_raw, dbt_metrics_models, warehouse_metrics),
    executor_def=in_process_executor,
    description="Warehouse load, dbt build (models and tests) and the published metrics.",
)

warehouse_schedule = ScheduleDefinition(
    name="warehouse_every_15_minutes",
    job=rebuild_metrics_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)


@sensor(
    job=refresh_warehouse_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def warehouse_after_ingestion(context: SensorEvaluationContext) -> RunRequest | SkipReason:
    """Debounced: at most one refresh per minute, none while one is pending, only after new finished runs."""
    cursor = float(context.cursor) if context.cursor else 0.0
    finished = context.instance.get_run_records(
        RunsFilter(job_name=INGEST_JOB, statuses=FINISHED, updated_after=datetime.fromtimestamp(cursor, UTC)),
        limit=1,
        order_by="update_timestamp",
        ascending=False,
    )
    if not finished:
        return SkipReason("no ingestion run finished since the last refresh")
    if context.instance.get_runs_count(RunsFilter(job_name=refresh_warehouse_job.name, statuses=PENDING)):
        return SkipReason("a warehouse refresh is already waiting to start")
    newest = finished[0].update_timestamp.timestamp()
    context.update_cursor(str(newest))
    return RunRequest(run_key=f"after-ingestion-{newest}")


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="time_to_searchable",
    minimum_interval_seconds=30,
    monitor_all_code_locations=True,  # the ingestion job lives in the other location, whatever its name
    default_status=DefaultSensorStatus.RUNNING,
)
def time_to_searchable_sensor(context: RunStatusSensorContext) -> None:
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
    with session_scope(load_settings().database_url) as session:
        points = record_time_to_searchable(session, run.run_id, run.tags, datetime.fromtimestamp(record.end_time, UTC))
    context.log.info("run %s: %d time_to_searchable point(s)", run.run_id, len(points))
    return None


metrics_assets = [warehouse_raw, dbt_metrics_models, warehouse_metrics]
metrics_jobs = [refresh_warehouse_job, rebuild_metrics_job]
metrics_schedules = [warehouse_schedule]
metrics_sensors = [warehouse_after_ingestion, time_to_searchable_sensor]

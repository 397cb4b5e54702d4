"""The warehouse asset: runs, metric points, deliveries, documents and stores loaded into DuckDB."""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    DagsterRunStatus,
    MaterializeResult,
    multi_asset,
)

from lightfast_pipeline.assets.dbt import METRICS_GROUP, WAREHOUSE_POOL, dbt_metrics_models, warehouse_metrics
from lightfast_pipeline.metrics.loader import RAW_TABLES
from lightfast_pipeline.metrics.refresh import load_into
from lightfast_pipeline.metrics.writer import warehouse_writer
from lightfast_pipeline.resources.catalog import CatalogResource

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
    settings = catalog.settings()
    with warehouse_writer(settings.warehouse_path) as building:
        loaded = load_into(building, context.instance, settings.database_url)
    context.log.info(f"warehouse loaded {loaded}")
    for table in RAW_TABLES:
        yield MaterializeResult(asset_key=["raw", table], metadata={"rows_loaded": loaded[table]})


metrics_assets = [warehouse_raw, dbt_metrics_models, warehouse_metrics]

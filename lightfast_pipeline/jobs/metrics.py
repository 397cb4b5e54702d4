"""The metrics jobs: the incremental warehouse refresh, and the full rebuild with dbt."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from lightfast_pipeline import tags
from lightfast_pipeline.assets.dbt import dbt_metrics_models, warehouse_metrics
from lightfast_pipeline.assets.warehouse import warehouse_raw
from lightfast_pipeline.metrics.freshness import REBUILD_JOB, REFRESH_JOB

# In the run queue (deploy/dagster.yaml) warehouse runs go one at a time (they share one DuckDB file: a second
# would wait on its lock while holding a run slot) and after every queued ingestion run (priority below the
# default 0), so a burst of pushes is not slowed down by the refreshes it triggers.
QUEUE_TAGS = {tags.WAREHOUSE: "write", "dagster/priority": "-1"}

refresh_warehouse_job = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.assets(warehouse_raw, warehouse_metrics),
    executor_def=in_process_executor,
    description="Incremental warehouse load and the metrics it publishes (the models are views: no dbt run).",
    tags=QUEUE_TAGS,
)

rebuild_metrics_job = define_asset_job(
    REBUILD_JOB,
    selection=AssetSelection.assets(warehouse_raw, dbt_metrics_models, warehouse_metrics),
    executor_def=in_process_executor,
    description="Warehouse load, dbt build (models and tests) and the published metrics.",
    tags=QUEUE_TAGS,
)

metrics_jobs = [refresh_warehouse_job, rebuild_metrics_job]

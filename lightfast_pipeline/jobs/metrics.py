"""The metrics jobs: the incremental warehouse refresh, and the full rebuild with dbt."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from lightfast_pipeline.assets.dbt import dbt_metrics_models, warehouse_metrics
from lightfast_pipeline.assets.warehouse import warehouse_raw
from lightfast_pipeline.metrics.freshness import REBUILD_JOB, REFRESH_JOB

refresh_warehouse_job = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.assets(warehouse_raw, warehouse_metrics),
    executor_def=in_process_executor,
    description="Incremental warehouse load and the metrics it publishes (the models are views: no dbt run).",
)

rebuild_metrics_job = define_asset_job(
    REBUILD_JOB,
    selection=AssetSelection.assets(warehouse_raw, dbt_metrics_models, warehouse_metrics),
    executor_def=in_process_executor,
    description="Warehouse load, dbt build (models and tests) and the published metrics.",
)

metrics_jobs = [refresh_warehouse_job, rebuild_metrics_job]

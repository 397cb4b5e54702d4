"""The metrics code location: warehouse and dbt assets (with the workspace health check), their jobs,
schedule and sensors, and the notification sensors. Composes, nothing else.

Its sensors watch runs of every location: ``time_to_searchable`` and ``notify_run_failures`` monitor all code
locations, ``warehouse_after_ingestion`` reads the instance's run history of ``ingest_repository``.
"""

from dagster import Definitions

from lightfast_pipeline.assets.warehouse import metrics_assets
from lightfast_pipeline.jobs.metrics import metrics_jobs
from lightfast_pipeline.resources import metrics_resources
from lightfast_pipeline.schedules.metrics import warehouse_schedule
from lightfast_pipeline.sensors.metrics import metrics_sensors
from lightfast_pipeline.sensors.notifications import notification_sensors
from lightfast_pipeline.settings import load_project_settings

defs = Definitions(
    assets=metrics_assets,
    jobs=metrics_jobs,
    sensors=[*metrics_sensors, *notification_sensors],
    schedules=[warehouse_schedule],
    resources=metrics_resources(load_project_settings()),
)

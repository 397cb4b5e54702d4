"""The one Definitions object: composes domains and resources, nothing else."""

from dagster import Definitions

from lightfast_pipeline.assets.ingestion import ingest_repository_job, ingestion_assets
from lightfast_pipeline.assets.warehouse import metrics_assets, metrics_jobs, metrics_schedules, metrics_sensors
from lightfast_pipeline.resources.lightfast import CatalogResource, EmbedderResource, VectorStoreResource
from lightfast_pipeline.schedules import reconciliation_schedule
from lightfast_pipeline.sensors.deliveries import github_deliveries_sensor
from lightfast_pipeline.sensors.lifecycle import repository_lifecycle_sensor
from lightfast_pipeline.sensors.notifications import notification_sensors

defs = Definitions(
    assets=[*ingestion_assets, *metrics_assets],
    jobs=[ingest_repository_job, *metrics_jobs],
    sensors=[github_deliveries_sensor, repository_lifecycle_sensor, *metrics_sensors, *notification_sensors],
    schedules=[reconciliation_schedule, *metrics_schedules],
    resources={
        "catalog": CatalogResource(),
        "embedder": EmbedderResource(),
        "vector_store": VectorStoreResource(),
    },
)

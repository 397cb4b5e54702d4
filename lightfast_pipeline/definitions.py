"""The ingestion code location: ingestion assets and job, the sensors and schedule that request its runs.

Every run worker imports this module, so it must stay light: the warehouse and dbt (dagster-dbt, dbt-core,
duckdb) live in the ``lightfast_metrics`` location (``metrics_definitions.py``). Composes, nothing else.
"""

from collections.abc import Mapping

from dagster import ConfigurableResource, Definitions

from lightfast_pipeline.assets.ingestion import ingestion_assets
from lightfast_pipeline.jobs.ingestion import ingest_repository_job
from lightfast_pipeline.resources import ingestion_resources
from lightfast_pipeline.schedules.reconciliation import reconciliation_schedule
from lightfast_pipeline.sensors.github import github_deliveries_sensor
from lightfast_pipeline.sensors.repositories import repository_lifecycle_sensor
from lightfast_pipeline.settings import load_project_settings


def ingestion_definitions(resources: Mapping[str, ConfigurableResource]) -> Definitions:
    """The location's definitions on these resources (tests pass their own instances)."""
    return Definitions(
        assets=ingestion_assets,
        jobs=[ingest_repository_job],
        sensors=[github_deliveries_sensor, repository_lifecycle_sensor],
        schedules=[reconciliation_schedule],
        resources=resources,
    )


defs = ingestion_definitions(ingestion_resources(load_project_settings()))

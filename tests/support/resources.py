"""Resource instances for tests that evaluate sensors and schedules directly (no environment lookup)."""

from __future__ import annotations

from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.settings import Settings


def catalog_resources(settings: Settings) -> dict[str, object]:
    """``{"catalog": …}`` on the test's own catalog, passed to ``build_sensor_context``/``build_schedule_context``."""
    return {"catalog": CatalogResource(database_url=settings.database_url)}

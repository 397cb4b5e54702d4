"""Building the dbt models into a warehouse file the way production does: materialising the dbt assets."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from dagster import DagsterInstance, materialize


def build_models(warehouse: Path) -> None:
    """Materialise the dbt assets into ``warehouse`` (named ``warehouse.duckdb``: its folder is the home)."""
    from lightfast_pipeline.assets.dbt import dbt_metrics_models
    from lightfast_pipeline.resources.catalog import CatalogResource

    assert warehouse.name == "warehouse.duckdb", warehouse
    with mock.patch.dict(os.environ, {"LIGHTFAST_HOME": str(warehouse.parent)}), DagsterInstance.ephemeral() as inst:
        result = materialize(
            [dbt_metrics_models], instance=inst, resources={"catalog": CatalogResource()}, raise_on_error=False
        )
    if not result.success:
        failures = result.get_step_failure_events()
        raise RuntimeError(f"dbt build failed: {failures[0].step_failure_data.error if failures else result}")

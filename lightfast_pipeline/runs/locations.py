"""The project's Dagster code locations, by name (``workspace.yaml`` and ``deploy/workspace.yaml`` list the same).

Two locations so that ingestion run workers, which import their whole location at start, never import dbt:
see docs/architecture.md.
"""

from __future__ import annotations

import yaml

CODE_LOCATIONS: dict[str, str] = {
    "lightfast_pipeline": "lightfast_pipeline.definitions",
    "lightfast_metrics": "lightfast_pipeline.metrics_definitions",
}


def workspace_yaml() -> str:
    """A Dagster workspace file that loads every code location by module, under its name."""
    entries = [
        {"python_module": {"module_name": module, "location_name": name}} for name, module in CODE_LOCATIONS.items()
    ]
    return yaml.safe_dump({"load_from": entries}, sort_keys=False)

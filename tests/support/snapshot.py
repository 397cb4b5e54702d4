"""The graph snapshot: what each code location defines, as the UI shows it, in a stable order.

``python -m tests.support.snapshot`` (``make snapshot``) writes ``tests/snapshots/definitions.json``;
``tests/test_definitions.py`` compares the live definitions with it and prints the difference.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from dagster import (
    Definitions,
    DynamicPartitionsDefinition,
    JobDefinition,
    PartitionsDefinition,
    RunStatusSensorDefinition,
    ScheduleDefinition,
    SensorDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from lightfast_pipeline.runs.locations import CODE_LOCATIONS

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "definitions.json"
IMPLICIT_JOB = "__ASSET_JOB"


def snapshot() -> dict[str, Any]:
    """Every code location by name: its assets, jobs, sensors and schedules."""
    return {name: location_snapshot(importlib.import_module(module).defs) for name, module in CODE_LOCATIONS.items()}


def render(data: dict[str, Any]) -> str:
    """The file's text: sorted keys, one field per line, so a change reads as a small diff."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def location_snapshot(defs: Definitions) -> dict[str, Any]:
    """Assets, jobs, sensors and schedules of one ``Definitions``."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": partitions(node.partitions_def),
            "checks": {
                check.name: {"description": spec.description, "blocking": spec.blocking}
                for check in node.check_keys
                for spec in [graph.get_check_spec(check)]
            },
            "description": node.description,
            "computed_by": {"op": node.assets_def.node_def.name, "can_subset": node.assets_def.can_subset}
            if node.is_executable
            else None,
            "pools": sorted(node.pools),
        }
    return {
        "assets": assets,
        "jobs": {job.name: job_snapshot(job) for job in defs.resolve_all_job_defs() if job.name != IMPLICIT_JOB},
        "sensors": {sensor.name: sensor_snapshot(sensor) for sensor in defs.sensors or []},
        "schedules": {schedule.name: schedule_snapshot(schedule) for schedule in defs.schedules or []},
    }


def partitions(definition: PartitionsDefinition | None) -> dict[str, Any] | None:
    """How an asset or job is partitioned."""
    if definition is None:
        return None
    if isinstance(definition, DynamicPartitionsDefinition):
        return {"type": "dynamic", "name": definition.name}
    if isinstance(definition, StaticPartitionsDefinition):
        return {"type": "static", "keys": definition.get_partition_keys()}
    if isinstance(definition, TimeWindowPartitionsDefinition):
        return {
            "type": "time_window",
            "cron": definition.cron_schedule,
            "timezone": definition.timezone,
            "start": definition.start.isoformat(),
        }
    return {"type": type(definition).__name__, "description": str(definition)}


def job_snapshot(job: JobDefinition) -> dict[str, Any]:
    """The assets a job materialises, its executor, partitions and description."""
    return {
        "selection": sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys),
        "executor": job.executor_def.name,
        "partitions": partitions(job.partitions_def),
        "tags": dict(job.tags),
        "description": job.description,
    }


def sensor_snapshot(sensor: SensorDefinition) -> dict[str, Any]:
    """What a sensor requests (or, for a run-status sensor, which runs it watches), how often, and whether it
    starts running."""
    target: dict[str, Any] = {"jobs": sorted(target.job_name for target in sensor.targets)}
    if isinstance(sensor, RunStatusSensorDefinition):
        # Dagster keeps what a run-status sensor watches in private fields only
        target["run_status"] = sensor._run_status.value
        target["monitor_all_code_locations"] = bool(sensor._monitor_all_code_locations)
        target["monitored_jobs"] = sorted(_job_name(job) for job in sensor._monitored_jobs or [])
    return {
        "type": sensor.sensor_type.value,
        "target": target,
        "minimum_interval_seconds": sensor.minimum_interval_seconds,
        "default_status": sensor.default_status.value,
    }


def schedule_snapshot(schedule: ScheduleDefinition) -> dict[str, Any]:
    """A schedule's cron, time zone, job and whether it starts running."""
    return {
        "cron": schedule.cron_schedule,
        "timezone": schedule.execution_timezone,
        "job": schedule.job_name,
        "default_status": schedule.default_status.value,
    }


def _job_name(job: object) -> str:
    return str(getattr(job, "name", None) or getattr(job, "job_name", None) or job)


def main() -> None:
    """Write the snapshot file."""
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(render(snapshot()))
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()

"""The Dagster code location: it loads, and its asset graph is pinned."""

from __future__ import annotations

from dagster import AssetKey

from lightfast_pipeline.definitions import defs


def test_definitions_load_and_resolve_every_job() -> None:
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert "ingest_repository" in jobs
    job = defs.resolve_job_def("ingest_repository")
    assert job.executor_def.name == "in_process"
    assert job.partitions_def is not None and job.partitions_def.name == "repositories"


def test_ingestion_asset_graph_is_pinned() -> None:
    graph = defs.resolve_asset_graph()
    upstream = {
        key.to_user_string(): sorted(parent.to_user_string() for parent in graph.get(key).parent_keys)
        for key in (AssetKey("documents"), AssetKey("chunks"), AssetKey("embeddings"))
    }
    assert upstream == {"documents": [], "chunks": ["documents"], "embeddings": ["chunks"]}
    for name in ("documents", "chunks", "embeddings"):
        node = graph.get(AssetKey(name))
        assert node.partitions_def.name == "repositories"
        assert node.group_name == "ingestion"


def test_sensors_and_schedules_are_registered() -> None:
    sensors = {sensor.name for sensor in defs.sensors}
    schedules = {schedule.name for schedule in defs.schedules}
    assert {"github_deliveries_sensor", "repository_lifecycle_sensor", "notify_run_failures"} <= sensors
    assert "reconciliation_schedule" in schedules

"""The two Dagster code locations: they load, their graphs match the committed snapshot, ingestion stays light."""

from __future__ import annotations

import difflib
import importlib
import subprocess
import sys

import pytest
from dagster import AssetKey, Definitions

from lightfast_pipeline.definitions import defs
from lightfast_pipeline.metrics_definitions import defs as metrics_defs
from lightfast_pipeline.runs.locations import CODE_LOCATIONS
from tests.support.snapshot import SNAPSHOT, render, snapshot

RAW_TABLES = {
    "deliveries",
    "documents",
    "metric_points",
    "repositories",
    "run_hours",
    "runs",
    "stores",
    "workspaces",
}
NOT_IN_RUN_WORKERS = """
import sys
import lightfast_pipeline.definitions
warehouse = (
    "lightfast_pipeline.assets.warehouse",
    "lightfast_pipeline.assets.dbt",
    "lightfast_pipeline.jobs.metrics",
    "lightfast_pipeline.sensors.metrics",
    "lightfast_pipeline.schedules.metrics",
    "lightfast_pipeline.metrics_def",
)
heavy = [m for m in sys.modules if m.split(".")[0] in ("dagster_dbt", "dbt", "duckdb") or m.startswith(warehouse)]
assert not heavy, sorted(heavy)
"""


def _names(definitions) -> tuple[set[str], set[str], set[str]]:
    """Jobs (without the implicit asset job), sensors and schedules."""
    jobs = {job.name for job in definitions.resolve_all_job_defs()} - {"__ASSET_JOB"}
    return jobs, {sensor.name for sensor in definitions.sensors}, {schedule.name for schedule in definitions.schedules}


def test_ingestion_location_holds_the_ingestion_job_and_what_requests_it() -> None:
    assert _names(defs) == (
        {"ingest_repository"},
        {"github_deliveries_sensor", "repository_lifecycle_sensor"},
        {"reconciliation_schedule"},
    )
    job = defs.resolve_job_def("ingest_repository")
    assert job.executor_def.name == "in_process"
    assert job.partitions_def is not None and job.partitions_def.name == "repositories"


def test_ingestion_asset_graph_is_pinned() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == {AssetKey("documents"), AssetKey("chunks"), AssetKey("embeddings")}
    upstream = {
        key.to_user_string(): sorted(parent.to_user_string() for parent in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert upstream == {"documents": [], "chunks": ["documents"], "embeddings": ["chunks"]}
    kinds = {"documents": {"python", "git"}, "chunks": {"python"}, "embeddings": {"python", "lancedb"}}
    for name in ("documents", "chunks", "embeddings"):
        node = graph.get(AssetKey(name))
        assert node.partitions_def.name == "repositories"
        assert node.group_name == "ingestion"
        assert node.kinds == kinds[name]
    # one unit: a single op that cannot be subset, with the index-truth check on embeddings
    [unit] = defs.assets
    assert not unit.can_subset and unit.node_def.name == "ingestion"
    assert [key.to_user_string() for key in graph.asset_check_keys] == ["embeddings:index_truth"]
    assert defs.resolve_job_def("ingest_repository").graph.node_names() == ["ingestion"]


def test_metrics_location_holds_the_warehouse_and_the_notifications() -> None:
    assert _names(metrics_defs) == (
        {"refresh_warehouse", "rebuild_metrics"},
        {"warehouse_after_ingestion", "time_to_searchable", "notify_run_failures", "deliver_notifications"},
        {"warehouse_every_15_minutes"},
    )


def test_metrics_asset_graph_is_pinned() -> None:
    graph = metrics_defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    raw = {key for key in keys if key.path[0] == "raw"}
    assert raw == {AssetKey(["raw", table]) for table in RAW_TABLES}
    assert all(not graph.get(key).parent_keys for key in raw)
    assert sorted(parent.to_user_string() for parent in graph.get(AssetKey("warehouse_metrics")).parent_keys) == [
        "health",
        "job_duration_percentiles",
        "job_stats",
        "query_latency_percentiles",
        "raw/metric_points",
        "raw/runs",
        "time_to_searchable_percentiles",
    ]
    assert [key.to_user_string() for key in graph.asset_check_keys] == ["warehouse_metrics:workspace_health"]
    assert {graph.get(key).group_name for key in keys} == {"metrics"}
    # every dbt model reads, through its parents, the raw tables only (no dangling source)
    for key in keys - raw - {AssetKey("warehouse_metrics")}:
        assert graph.get_ancestor_asset_keys(key) & raw, key
    assert not keys & defs.resolve_asset_graph().get_all_asset_keys()


def test_importing_the_ingestion_location_leaves_dbt_duckdb_and_the_warehouse_out() -> None:
    """What every ingestion run worker pays at start: no dagster-dbt, dbt-core, duckdb or warehouse module."""
    result = subprocess.run([sys.executable, "-c", NOT_IN_RUN_WORKERS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", sorted(CODE_LOCATIONS.values()))
def test_code_location_is_loadable(module: str) -> None:
    """What ``dagster dev`` and the daemon do with the module: resolve every job, sensor and schedule."""
    Definitions.validate_loadable(importlib.import_module(module).defs)


def test_definitions_match_the_committed_snapshot() -> None:
    """Assets, jobs, sensors and schedules of both locations, as tests/snapshots/definitions.json pins them."""
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    live = render(snapshot())
    if live != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                live.splitlines(keepends=True),
                fromfile=f"{SNAPSHOT.relative_to(SNAPSHOT.parents[2])} (committed)",
                tofile="live definitions",
            )
        )
        pytest.fail(
            f"the Dagster definitions differ from the committed snapshot:\n{diff}\n"
            "If the change is intended, run `make snapshot` and commit tests/snapshots/definitions.json.",
            pytrace=False,
        )

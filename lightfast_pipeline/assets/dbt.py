"""The dbt_metrics models as Dagster assets (dagster-dbt), and the metrics asset that publishes their figures.

The models are built here and nowhere else: ``dbt build`` runs in the warehouse writer's private copy (see
``metrics/writer.py``), named to dbt through ``--vars``, so it never locks readers out. The manifest comes from
``make manifest`` (deployments, CI); under ``dagster dev`` it is re-parsed at load (``prepare_if_dev``).
"""

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from lightfast_pipeline.activity.health import record_workspace_health
from lightfast_pipeline.metrics.dbt_project import dbt_executable, dbt_project, warehouse_vars
from lightfast_pipeline.metrics.freshness import mark_models_current
from lightfast_pipeline.metrics.loader import ensure_schema
from lightfast_pipeline.metrics.ranges import parse_range
from lightfast_pipeline.metrics.stats import read_models
from lightfast_pipeline.metrics.writer import warehouse_writer
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.notifications import NotificationsResource

WAREHOUSE_POOL = "lightfast_warehouse"  # limit 1: `dagster instance concurrency set lightfast_warehouse 1`
METRICS_GROUP = "metrics"

dbt_project.prepare_if_dev()


class MetricsTranslator(DagsterDbtTranslator):
    """Every model sits in the metrics group; sources keep their default keys ``raw/<table>``."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return METRICS_GROUP


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=MetricsTranslator(),
    pool=WAREHOUSE_POOL,
)
def dbt_metrics_models(context: AssetExecutionContext, catalog: CatalogResource) -> Iterator[Any]:
    """``dbt build`` of dbt_metrics into a copy of the warehouse that replaces it when the build succeeds.

    A build of every model marks the warehouse as holding this project version's models; a subset (one model
    materialised from the UI) does not.
    """
    dbt = DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    with warehouse_writer(catalog.settings().warehouse_path) as building:
        with duckdb.connect(str(building)) as con:
            ensure_schema(con)  # the sources exist before the views over them, even on a new warehouse
        yield from dbt.cli(["build", *warehouse_vars(building)], context=context).stream()
        if not context.is_subset:
            with duckdb.connect(str(building)) as con:
                mark_models_current(con)
                con.execute("checkpoint").fetchall()


PUBLISHED_MODELS = (
    "job_stats",
    "job_duration_percentiles",
    "time_to_searchable_percentiles",
    "query_latency_percentiles",
    "health",
)
SEVERITY = {"degraded": AssetCheckSeverity.WARN, "down": AssetCheckSeverity.ERROR}


@asset(
    group_name=METRICS_GROUP,
    # the raw tables too: a refresh without the dbt step (the models are views) must still load first
    deps=[
        AssetKey(["raw", "runs"]),
        AssetKey(["raw", "metric_points"]),
        *(AssetKey(m) for m in PUBLISHED_MODELS),
    ],
    check_specs=[AssetCheckSpec("workspace_health", asset="warehouse_metrics")],
    description="Last-24h figures of the dbt models as numeric metadata, and workspace health as a check.",
)
def warehouse_metrics(
    context: AssetExecutionContext, catalog: CatalogResource, notifications: NotificationsResource
) -> MaterializeResult:
    """Publish success rate, runs, duration and time-to-searchable percentiles; check workspace health."""
    settings = catalog.settings()
    figures, workspaces = read_metrics(settings.warehouse_path)
    notify = notifications.settings().webhook_url is not None
    record_workspace_health(settings, workspaces, notify=notify)  # health.changed activity + notification
    context.log.info("metrics over the last 24 h: %s", figures)
    return MaterializeResult(
        metadata={key: MetadataValue.float(value) for key, value in figures.items() if value is not None},
        check_results=[workspace_health_check(workspaces)],
    )


def read_metrics(warehouse: Path) -> tuple[dict[str, float | None], dict[str, str]]:
    """The last 24 hours: headline figures (name -> value) and each workspace's health status."""
    with read_models(warehouse, parse_range("24h", datetime.now(UTC))) as con:
        jobs = con.execute("select total, success_rate, avg_duration_ms from job_stats").fetchall()[0]
        durations = con.execute("select p50, p95, p99 from job_duration_percentiles").fetchall()[0]
        searchable = con.execute("select p95 from time_to_searchable_percentiles").fetchall()[0]
        latency = con.execute("select p95 from query_latency_percentiles").fetchall()[0]
        health = con.execute("select key, status from health where level = 'workspace' order by key").fetchall()
    figures = {
        "runs_24h": jobs[0],
        "success_rate_pct": jobs[1],
        "avg_duration_ms": jobs[2],
        "duration_p50_ms": durations[0],
        "duration_p95_ms": durations[1],
        "duration_p99_ms": durations[2],
        "time_to_searchable_p95_ms": searchable[0],
        "query_latency_p95_ms": latency[0],
    }
    return {k: None if v is None else float(v) for k, v in figures.items()}, dict(health)


def workspace_health_check(workspaces: Mapping[str, str]) -> AssetCheckResult:
    """Passed when no workspace is degraded or down; WARN when one is degraded, ERROR when one is down."""
    worst = next((status for status in ("down", "degraded") if status in workspaces.values()), None)
    return AssetCheckResult(
        check_name="workspace_health",
        passed=worst is None,
        severity=SEVERITY.get(worst or "", AssetCheckSeverity.WARN),
        metadata={"workspaces": MetadataValue.json(dict(workspaces))},
        description=None
        if worst is None
        else f"workspaces {worst}: " + ", ".join(sorted(k for k, v in workspaces.items() if v == worst)),
    )

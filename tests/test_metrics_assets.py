"""The Dagster side: warehouse, dbt (dagster-dbt) and metrics assets, the health check, the freshness sensors.

Layer: a real on-disk Dagster instance; ``materialize`` runs the real assets (``dbt build`` through
dagster-dbt into the writer's copy); runs are written into the run storage with known times; the sensors are
evaluated with contexts built on that instance; catalog rows go through the ORM.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)
from sqlalchemy import select

from lightfast_pipeline.assets.dbt import dbt_metrics_models, warehouse_metrics
from lightfast_pipeline.assets.warehouse import warehouse_raw
from lightfast_pipeline.catalog.models import MetricPoint, WebhookDelivery
from lightfast_pipeline.metrics.freshness import PROJECT_HASH_CURSOR, models_current
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.notifications import NotificationsResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sensors.metrics import time_to_searchable_sensor, warehouse_after_ingestion
from lightfast_pipeline.settings import Settings
from tests.support.resources import sensor_resources
from tests.test_warehouse_load import add_run, instance, prebuilt, seed_catalog, succeeded, template

__all__ = ["instance", "prebuilt", "template"]  # fixtures shared with test_warehouse_load


def metrics_of(instance: DagsterInstance) -> tuple[dict[str, float], AssetCheckSeverity | None, bool]:
    """Numeric metadata of the last warehouse_metrics materialization and its health check outcome."""
    event = instance.get_latest_materialization_event(AssetKey("warehouse_metrics"))
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [warehouse_metrics.check_keys.__iter__().__next__()]
    )
    evaluation = next(iter(check.values())).event.dagster_event.event_specific_data
    return metadata, (None if evaluation.passed else evaluation.severity), evaluation.passed


def test_assets_publish_metrics_and_check_workspace_health(
    lightfast_env: Settings, instance: DagsterInstance, prebuilt: None
) -> None:
    seed_catalog(Runtime(lightfast_env))
    now = datetime.now(UTC)
    for n in range(9):
        start = now - timedelta(hours=2, minutes=n)
        add_run(instance, start, succeeded(start, 1000 * (n + 1)))
    failing = now - timedelta(hours=1)
    add_run(
        instance,
        failing,
        [
            (DagsterEventType.PIPELINE_START, failing),
            (DagsterEventType.PIPELINE_FAILURE, failing + timedelta(seconds=1)),
        ],
    )
    resources = {
        "catalog": CatalogResource(database_url=lightfast_env.database_url),
        "notifications": NotificationsResource(),
    }

    result = materialize([warehouse_raw, dbt_metrics_models, warehouse_metrics], instance=instance, resources=resources)
    assert result.success
    metadata, severity, passed = metrics_of(instance)
    assert metadata["runs_24h"] == 10
    assert metadata["success_rate_pct"] == pytest.approx(90.0)
    assert metadata["duration_p50_ms"] == pytest.approx(5000.0)
    assert metadata["duration_p95_ms"] == pytest.approx(8600.0)  # 1000..9000 s, linear interpolation
    assert "time_to_searchable_p95_ms" not in metadata  # no delivery yet: no value, not 0
    assert (passed, severity) == (False, AssetCheckSeverity.WARN)  # 90 %: degraded

    for n in range(5):
        at = now - timedelta(minutes=30 + n)
        add_run(
            instance,
            at,
            [
                (DagsterEventType.PIPELINE_START, at),
                (DagsterEventType.PIPELINE_FAILURE, at + timedelta(seconds=1)),
            ],
        )
    # the sensor-triggered refresh: incremental load and metrics, no dbt run (the models are views)
    assert materialize([warehouse_raw, warehouse_metrics], instance=instance, resources=resources).success
    metadata, severity, passed = metrics_of(instance)
    assert metadata["runs_24h"] == 15 and metadata["success_rate_pct"] == pytest.approx(60.0)
    assert (passed, severity) == (False, AssetCheckSeverity.ERROR)  # 60 %: down


def test_dbt_assets_materialise_every_model_without_touching_the_environment(
    lightfast_env: Settings, instance: DagsterInstance
) -> None:
    environment = dict(os.environ)
    result = materialize([dbt_metrics_models], instance=instance, resources=sensor_resources(lightfast_env))
    assert result.success
    assert dict(os.environ) == environment  # the writer's copy reaches dbt through --vars
    assert {event.asset_key for event in result.get_asset_materialization_events()} == set(dbt_metrics_models.keys)
    assert models_current(lightfast_env.warehouse_path)

    # one model materialised from the UI is built, but does not vouch for the others
    with duckdb.connect(str(lightfast_env.warehouse_path)) as con:
        con.execute("update raw.cursors set value = 'an older project' where name = ?", [PROJECT_HASH_CURSOR])
    one = materialize(
        [dbt_metrics_models],
        instance=instance,
        selection=[AssetKey("job_stats")],
        resources=sensor_resources(lightfast_env),
    )
    assert [event.asset_key for event in one.get_asset_materialization_events()] == [AssetKey("job_stats")]
    assert not models_current(lightfast_env.warehouse_path)


def test_refresh_after_ingestion_is_debounced(
    lightfast_env: Settings, instance: DagsterInstance, template: Path
) -> None:
    empty = warehouse_after_ingestion(
        build_sensor_context(instance=instance, resources=sensor_resources(lightfast_env))
    )
    assert isinstance(empty, SkipReason)
    now = datetime.now(UTC)
    add_run(instance, now, succeeded(now, 10))
    add_run(instance, now, succeeded(now, 20))
    context = build_sensor_context(instance=instance, resources=sensor_resources(lightfast_env))
    first = warehouse_after_ingestion(context)
    assert isinstance(first, RunRequest)  # one refresh for both runs
    assert first.job_name == "rebuild_metrics"  # no models yet: the refresh builds them
    again = warehouse_after_ingestion(
        build_sensor_context(instance=instance, cursor=context.cursor, resources=sensor_resources(lightfast_env))
    )
    assert isinstance(again, SkipReason)

    shutil.copyfile(template, lightfast_env.warehouse_path)  # the models of this project version are built
    later = datetime.now(UTC)
    add_run(instance, later, succeeded(later, 5))
    context = build_sensor_context(instance=instance, cursor=context.cursor, resources=sensor_resources(lightfast_env))
    refresh = warehouse_after_ingestion(context)
    assert isinstance(refresh, RunRequest) and refresh.job_name == "refresh_warehouse"  # a load is enough

    add_run(instance, now, job_name="refresh_warehouse")  # a refresh waiting to start
    later = datetime.now(UTC) + timedelta(seconds=1)
    add_run(instance, later, succeeded(later, 5))
    pending = warehouse_after_ingestion(
        build_sensor_context(instance=instance, cursor=context.cursor, resources=sensor_resources(lightfast_env))
    )
    assert isinstance(pending, SkipReason) and "already waiting" in pending.skip_message


def test_time_to_searchable_recorded_per_delivery(lightfast_env: Settings, instance: DagsterInstance) -> None:
    runtime = Runtime(lightfast_env)
    ids = seed_catalog(runtime)
    received = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    start = received + timedelta(seconds=4)
    run_id = add_run(instance, received, succeeded(start, 2500), delivery="d-tagged")
    with runtime.session() as session:
        session.add(WebhookDelivery(delivery_id="d-tagged", event="push", payload={}, received_at=received))
        # a second push debounced into the same run
        session.add(
            WebhookDelivery(
                delivery_id="d-later",
                event="push",
                payload={},
                run_id=run_id,
                received_at=received + timedelta(seconds=2),
            )
        )
        session.add(WebhookDelivery(delivery_id="d-other", event="push", payload={}, received_at=received))
    run = instance.get_run_by_id(run_id)
    context = build_run_status_sensor_context(
        sensor_name="time_to_searchable",
        dagster_event=DagsterEvent(DagsterEventType.PIPELINE_SUCCESS.value, run.job_name),
        dagster_instance=instance,
        dagster_run=run,
        resources={"catalog": CatalogResource(database_url=lightfast_env.database_url)},
    )
    time_to_searchable_sensor(context)
    with runtime.session() as session:
        points = session.scalars(select(MetricPoint).order_by(MetricPoint.value)).all()
    assert [(p.type, p.value, p.unit) for p in points] == [
        ("time_to_searchable", 4500.0, "ms"),
        ("time_to_searchable", 6500.0, "ms"),
    ]
    assert {p.tags["delivery"] for p in points} == {"d-tagged", "d-later"}
    assert {(p.workspace_id, p.repository_id) for p in points} == {(ids["workspace"], ids["repository"])}
    assert points[0].at == start + timedelta(milliseconds=2500)

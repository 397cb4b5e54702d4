"""Notification sensors: record and announce run failures; deliver queued notifications (with retries)."""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from lightfast_pipeline.activity.notify import deliver_pending, record_run_failure
from lightfast_pipeline.runs.jobs import run_error
from lightfast_pipeline.runtime import runtime_on
from lightfast_pipeline.settings import load_notify_settings


@run_failure_sensor(
    name="notify_run_failures",
    minimum_interval_seconds=10,
    monitor_all_code_locations=True,
    default_status=DefaultSensorStatus.RUNNING,
)
def notify_run_failures(context: RunFailureSensorContext) -> None:
    """Record one ``run.failed`` activity row per failed run and send its notification (once per run)."""
    runtime = runtime_on(context.instance)
    run = context.dagster_run
    error = run_error(context.instance, run.run_id) or context.failure_event.message
    settings = load_notify_settings()
    record_run_failure(runtime.session, settings, run, error)
    deliver_pending(runtime.session, settings)


@sensor(name="deliver_notifications", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def deliver_notifications(context: SensorEvaluationContext) -> SkipReason:
    """Retry notifications the receiver could not take earlier, and send queued health changes."""
    report = deliver_pending(runtime_on(context.instance).session, load_notify_settings())
    return SkipReason(f"notifications: {report.sent} sent, {report.failed} failed, {report.pending} pending")


notification_sensors = [notify_run_failures, deliver_notifications]

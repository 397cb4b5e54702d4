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
from dagster._core.storage.tags import WILL_RETRY_TAG

from lightfast_pipeline.activity.notify import deliver_pending, record_run_failure
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.notifications import NotificationsResource
from lightfast_pipeline.runs.jobs import run_error


@run_failure_sensor(
    name="notify_run_failures",
    minimum_interval_seconds=10,
    monitor_all_code_locations=True,
    default_status=DefaultSensorStatus.RUNNING,
)
def notify_run_failures(
    context: RunFailureSensorContext, catalog: CatalogResource, notifications: NotificationsResource
) -> None:
    """Record one ``run.failed`` activity row per failed run and send its notification (once per run).

    A failure Dagster's run retries will retry (``dagster/will_retry``, set when the failure is stored) is not
    announced: its retry is announced if it fails in turn (a launch that missed a code server being replaced is
    the common case), and the failed attempt stays in the run history."""
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        context.log.info(f"run {run.run_id} failed and will be retried: not announced")
        return
    error = run_error(context.instance, run.run_id) or context.failure_event.message
    settings = notifications.settings()
    record_run_failure(catalog.session, settings, run, error)
    deliver_pending(catalog.session, settings)


@sensor(name="deliver_notifications", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def deliver_notifications(
    context: SensorEvaluationContext, catalog: CatalogResource, notifications: NotificationsResource
) -> SkipReason:
    """Retry notifications the receiver could not take earlier, and send queued health changes."""
    del context  # the catalog and the notifier are all this sensor needs
    report = deliver_pending(catalog.session, notifications.settings())
    return SkipReason(f"notifications: {report.sent} sent, {report.failed} failed, {report.pending} pending")


notification_sensors = [notify_run_failures, deliver_notifications]

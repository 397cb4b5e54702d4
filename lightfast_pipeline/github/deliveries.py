"""Recording what the delivery sensor decided: the outcome on the delivery and on its activity row."""

from __future__ import annotations

from datetime import timedelta

from dagster import DagsterInstance, RunsFilter
from sqlalchemy import select

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, DeliveryStatus, Repository, WebhookDelivery, utcnow
from lightfast_pipeline.github.events import Delivery, Outcome
from lightfast_pipeline.runtime import Runtime

BATCH = 500  # deliveries per tick (a skipped delivery costs a few ms)
ACTIVITY_STATUS = {
    DeliveryStatus.PROCESSED: "success",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.FAILED: "failure",
}


def record_outcome(runtime: Runtime, delivery: Delivery, outcome: Outcome, run_id: str | None) -> None:
    """Store the outcome on the delivery and on its ``delivery.received`` activity row (one transaction)."""
    with runtime.session() as session:
        row = session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery.delivery_id))
        assert row is not None
        row.status = outcome.status.value
        row.reason = outcome.reason
        row.run_id = run_id
        row.processed_at = utcnow()
        activity = _activity_row(session, delivery.delivery_id)
        if activity is None:
            return
        activity.status = ACTIVITY_STATUS[outcome.status]
        activity.reason = outcome.reason
        activity.run_id = run_id
        activity.impact = {"runs_requested": len(outcome.runs), "repositories": outcome.repository_ids}
        if outcome.repository_ids:
            repository = session.get(Repository, outcome.repository_ids[0])
            if repository is not None:
                activity.repository_id = repository.id
                activity.repository_name = repository.full_name
                activity.workspace_id = repository.workspace_id


def _activity_row(session, delivery_id: str) -> ActivityEvent | None:
    return session.scalar(
        select(ActivityEvent).where(
            ActivityEvent.action == actions.DELIVERY_RECEIVED, ActivityEvent.delivery_id == delivery_id
        )
    )


def backfill_run_ids(runtime: Runtime, instance: DagsterInstance) -> int:
    """Record the run each recently processed delivery caused, once the daemon has created it."""
    since = utcnow() - timedelta(hours=1)
    with runtime.session() as session:
        rows = list(
            session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PROCESSED.value,
                    WebhookDelivery.run_id.is_(None),
                    WebhookDelivery.processed_at >= since,
                )
                .limit(BATCH)
            )
        )
        if not rows:
            return 0
        records = instance.get_run_records(RunsFilter(tags={tags.DELIVERY: [row.delivery_id for row in rows]}))
        runs = {record.dagster_run.tags[tags.DELIVERY]: record.dagster_run.run_id for record in records}
        for row in rows:
            if row.delivery_id in runs:
                row.run_id = runs[row.delivery_id]
                activity = _activity_row(session, row.delivery_id)
                if activity is not None:
                    activity.run_id = row.run_id
    return len(runs)


def deliveries_after(runtime: Runtime, cursor: int) -> list[tuple[int, str, str, str | None, dict, str]]:
    """The next stored deliveries after ``cursor`` (seq, id, event, action, payload, status), oldest first."""
    with runtime.session() as session:
        rows = session.execute(
            select(
                WebhookDelivery.seq,
                WebhookDelivery.delivery_id,
                WebhookDelivery.event,
                WebhookDelivery.action,
                WebhookDelivery.payload,
                WebhookDelivery.status,
            )
            .where(WebhookDelivery.seq > cursor)
            .order_by(WebhookDelivery.seq)
            .limit(BATCH)
        ).all()
    return [tuple(row) for row in rows]

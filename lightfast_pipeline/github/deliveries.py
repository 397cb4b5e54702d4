"""Recording what the delivery sensor decided: the outcome on the delivery and on its activity row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dagster import DagsterInstance, RunRequest, RunsFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, DeliveryStatus, Repository, WebhookDelivery, utcnow
from lightfast_pipeline.github.events import Delivery, Outcome
from lightfast_pipeline.runtime import Runtime

BATCH = 500  # deliveries per tick (a skipped delivery costs a few ms)
LOST_AFTER = timedelta(seconds=90)
"""A delivery decided this long ago whose runs do not exist lost its tick's result (Dagster gives a tick 60 s)."""
ACTIVITY_STATUS = {
    DeliveryStatus.PROCESSED: "success",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.FAILED: "failure",
}


def record_outcome(
    runtime: Runtime, delivery: Delivery, outcome: Outcome, run_id: str | None, requests: Sequence[RunRequest] = ()
) -> None:
    """Store the outcome on the delivery and on its ``delivery.received`` activity row (one transaction), with
    the run requests the sensor returns for it (kept until the daemon has created their runs)."""
    with runtime.session() as session:
        row = session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery.delivery_id))
        assert row is not None
        row.status = outcome.status.value
        row.reason = outcome.reason
        row.run_id = run_id
        row.processed_at = utcnow()
        head = delivery.payload.get("after") if delivery.event == "push" else None
        row.requested_runs = [
            {"run_key": r.run_key, "partition_key": r.partition_key, "tags": dict(r.tags), "head": head}
            for r in requests
        ] or None
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


@dataclass(frozen=True)
class LostRequest:
    """A run request a tick returned for a delivery whose run the daemon never created."""

    delivery_id: str
    run_key: str
    partition_key: str
    tags: dict[str, str]
    head: str | None

    def run_request(self) -> RunRequest:
        """The same request again: the same run key, so Dagster creates its run at most once."""
        return RunRequest(run_key=self.run_key, partition_key=self.partition_key, tags=self.tags)


def settle_delivery_run(session: Session, row: WebhookDelivery, run_id: str) -> None:
    """Record the run that indexes the delivery's push; its requests need no more watching."""
    row.run_id = run_id
    row.requested_runs = None
    activity = _activity_row(session, row.delivery_id)
    if activity is not None:
        activity.run_id = run_id


def confirm_requested_runs(runtime: Runtime, instance: DagsterInstance) -> list[LostRequest]:
    """Record the run each recently processed delivery caused, once the daemon has created it; return the
    requests of deliveries decided more than ``LOST_AFTER`` ago whose runs still do not exist.

    The daemon creates a tick's runs after the sensor function returns. When it drops the result instead (the
    tick outlived its 60 s deadline, the code server was restarted), the deliveries are already decided in the
    catalog and the cursor was not saved: without this, their pushes would wait for the next push or for the
    reconciliation schedule.
    """
    since = utcnow() - timedelta(hours=1)
    lost_before = utcnow() - LOST_AFTER
    lost: list[LostRequest] = []
    with runtime.session() as session:
        rows = list(
            session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PROCESSED.value,
                    WebhookDelivery.requested_runs.is_not(None),
                    WebhookDelivery.processed_at >= since,
                )
                .order_by(WebhookDelivery.seq)
                .limit(BATCH)
            )
        )
        if not rows:
            return lost
        records = instance.get_run_records(RunsFilter(tags={tags.DELIVERY: [row.delivery_id for row in rows]}))
        runs = {record.dagster_run.tags[tags.DELIVERY]: record.dagster_run.run_id for record in records}
        for row in rows:
            if row.delivery_id in runs:
                settle_delivery_run(session, row, runs[row.delivery_id])
            elif row.processed_at is not None and row.processed_at < lost_before:
                lost.extend(LostRequest(row.delivery_id, **spec) for spec in row.requested_runs or [])
    return lost


def settle_lost_delivery(runtime: Runtime, delivery_id: str, run_id: str) -> None:
    """A lost request's push is indexed by another run (``run_id``): record it on the delivery."""
    with runtime.session() as session:
        row = session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id))
        if row is not None:
            settle_delivery_run(session, row, run_id)


def deliveries_after(runtime: Runtime, cursor: int) -> list[tuple[int, str, str, str | None, dict, str, datetime]]:
    """The next stored deliveries after ``cursor`` (seq, id, event, action, payload, status, received_at), oldest
    first."""
    with runtime.session() as session:
        rows = session.execute(
            select(
                WebhookDelivery.seq,
                WebhookDelivery.delivery_id,
                WebhookDelivery.event,
                WebhookDelivery.action,
                WebhookDelivery.payload,
                WebhookDelivery.status,
                WebhookDelivery.received_at,
            )
            .where(WebhookDelivery.seq > cursor)
            .order_by(WebhookDelivery.seq)
            .limit(BATCH)
        ).all()
    return [tuple(row) for row in rows]

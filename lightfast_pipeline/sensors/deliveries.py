"""The delivery sensor: reads stored webhook deliveries in order and turns each into its outcome."""

from __future__ import annotations

from datetime import timedelta

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from sqlalchemy import select

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.assets.ingestion import ingest_repository_job
from lightfast_pipeline.catalog.models import (
    ActivityEvent,
    DeliveryStatus,
    Repository,
    WebhookDelivery,
    utcnow,
)
from lightfast_pipeline.github_events import Delivery, Outcome, PlannedRun, handle_delivery
from lightfast_pipeline.partitions import REPOSITORIES_PARTITION
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_settings

BATCH = 500  # deliveries per tick (a skipped delivery costs a few ms)
PENDING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]
ACTIVITY_STATUS = {
    DeliveryStatus.PROCESSED: "success",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.FAILED: "failure",
}
_migrated: set[str] = set()


def sensor_runtime(instance: DagsterInstance) -> Runtime:
    """A Runtime on the sensor's instance (the catalog is migrated once per process)."""
    settings = load_settings()
    runtime = Runtime(settings, instance=instance, migrate_catalog=settings.database_url not in _migrated)
    _migrated.add(settings.database_url)
    return runtime


def pending_run_id(instance: DagsterInstance, repository_uid: str) -> str | None:
    """A queued run of this repository that has not started: it will read the branch head when it does."""
    records = instance.get_run_records(
        RunsFilter(tags={tags.REPOSITORY: repository_uid}, statuses=PENDING), limit=1
    )
    return records[0].dagster_run.run_id if records else None


def run_request(
    instance: DagsterInstance, run: PlannedRun, *, run_key: str, trigger: str, delivery_id: str | None = None
) -> RunRequest:
    """A request for the ingestion job on the repository's partition, tagged as a job record."""
    if not instance.has_dynamic_partition(REPOSITORIES_PARTITION, run.repository_uid):
        instance.add_dynamic_partitions(REPOSITORIES_PARTITION, [run.repository_uid])
    run_tags = {
        tags.TRIGGER: trigger,
        tags.USER: run.user,
        tags.WORKSPACE: run.workspace_slug,
        tags.REPOSITORY: run.repository_uid,
        tags.REPOSITORY_NAME: run.repository_name,
    }
    if delivery_id:
        run_tags[tags.DELIVERY] = delivery_id
    return RunRequest(run_key=run_key, partition_key=run.repository_uid, tags=run_tags)


def _requests_for(
    instance: DagsterInstance, delivery: Delivery, outcome: Outcome
) -> tuple[list[RunRequest], str | None]:
    """Run requests for the outcome's syncs; a sync already queued absorbs the push (and gives its run id)."""
    requests: list[RunRequest] = []
    coalesced: str | None = None
    for run in outcome.runs:
        queued = pending_run_id(instance, run.repository_uid)
        if queued:
            coalesced = coalesced or queued
            outcome.reason += f"; coalesced into queued run {queued[:8]}"
            continue
        key = (
            delivery.delivery_id if len(outcome.runs) == 1 else f"{delivery.delivery_id}:{run.repository_uid}"
        )
        requests.append(
            run_request(instance, run, run_key=key, trigger="webhook", delivery_id=delivery.delivery_id)
        )
    return requests, coalesced


def record_outcome(runtime: Runtime, delivery: Delivery, outcome: Outcome, run_id: str | None) -> None:
    """Store the outcome on the delivery and on its ``delivery.received`` activity row (one transaction)."""
    with runtime.session() as session:
        row = session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery.delivery_id)
        )
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
        records = instance.get_run_records(
            RunsFilter(tags={tags.DELIVERY: [row.delivery_id for row in rows]})
        )
        runs = {record.dagster_run.tags[tags.DELIVERY]: record.dagster_run.run_id for record in records}
        for row in rows:
            if row.delivery_id in runs:
                row.run_id = runs[row.delivery_id]
                activity = _activity_row(session, row.delivery_id)
                if activity is not None:
                    activity.run_id = row.run_id
    return len(runs)


# The daemon evaluates sensors in a loop that runs every 5 s at most. An interval equal to that period aliases:
# a tick a few milliseconds early is skipped, so deliveries waited 5 or 10 s by turns. Below it, every loop
# evaluates this sensor, so a delivery waits 5 s at most.
@sensor(
    job=ingest_repository_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns stored GitHub deliveries into syncs and catalog changes, in order, exactly once.",
)
def github_deliveries_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """One tick: decide every delivery after the cursor, record its outcome, request its syncs."""
    runtime = sensor_runtime(context.instance)
    cursor = int(context.cursor or 0)
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
    backfill_run_ids(runtime, context.instance)
    if not rows:
        return SkipReason("no new deliveries")
    requests: list[RunRequest] = []
    for seq, delivery_id, event, action, payload, status in rows:
        cursor = seq
        if status != DeliveryStatus.RECEIVED.value:
            continue  # decided by a tick whose cursor was not saved
        delivery = Delivery(delivery_id, event, action, payload)
        try:
            outcome = handle_delivery(runtime, delivery)
            new_requests, run_id = _requests_for(context.instance, delivery, outcome)
        except Exception as error:  # one bad delivery must not block the ones after it
            context.log.exception(f"delivery {delivery_id} failed")
            outcome, new_requests, run_id = (
                Outcome(DeliveryStatus.FAILED, f"{type(error).__name__}: {error}"),
                [],
                None,
            )
        record_outcome(runtime, delivery, outcome, run_id)
        requests.extend(new_requests)
        context.log.info(f"delivery {delivery_id} ({event}): {outcome.status.value} — {outcome.reason}")
    return SensorResult(run_requests=requests, cursor=str(cursor))

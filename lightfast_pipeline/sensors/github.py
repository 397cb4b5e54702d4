"""The delivery sensor: reads stored webhook deliveries in order and turns each into its outcome."""

from __future__ import annotations

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from lightfast_pipeline.catalog.models import DeliveryStatus
from lightfast_pipeline.github.deliveries import backfill_run_ids, deliveries_after, record_outcome
from lightfast_pipeline.github.events import Delivery, Outcome, handle_delivery
from lightfast_pipeline.jobs.ingestion import ingest_repository_job, requests_for_delivery
from lightfast_pipeline.resources.catalog import CatalogResource


# The daemon evaluates sensors in a loop that runs every 5 s at most. An interval equal to that period aliases:
# a tick a few milliseconds early is skipped, so deliveries waited 5 or 10 s by turns. Below it, every loop
# evaluates this sensor, so a delivery waits 5 s at most.
@sensor(
    job=ingest_repository_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns stored GitHub deliveries into syncs and catalog changes, in order, exactly once.",
)
def github_deliveries_sensor(context: SensorEvaluationContext, catalog: CatalogResource) -> SensorResult | SkipReason:
    """One tick: decide every delivery after the cursor, record its outcome, request its syncs."""
    runtime = catalog.runtime(context.instance)
    cursor = int(context.cursor or 0)
    rows = deliveries_after(runtime, cursor)
    backfill_run_ids(runtime, context.instance)
    if not rows:
        return SkipReason("no new deliveries")
    requests: list[RunRequest] = []
    requested: dict[str, str] = {}
    for seq, delivery_id, event, action, payload, status in rows:
        cursor = seq
        if status != DeliveryStatus.RECEIVED.value:
            continue  # decided by a tick whose cursor was not saved
        delivery = Delivery(delivery_id, event, action, payload)
        try:
            outcome = handle_delivery(runtime, delivery)
            new_requests, run_id = requests_for_delivery(context.instance, delivery, outcome, requested)
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

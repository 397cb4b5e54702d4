"""The delivery sensor: reads stored webhook deliveries in order and turns each into its outcome."""

from __future__ import annotations

import time

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from lightfast_pipeline.catalog.models import DeliveryStatus
from lightfast_pipeline.github.deliveries import (
    confirm_requested_runs,
    deliveries_after,
    record_outcome,
    settle_lost_delivery,
)
from lightfast_pipeline.github.events import Delivery, Outcome, handle_delivery
from lightfast_pipeline.jobs.ingestion import ingest_repository_job, pending_run_id, requests_for_delivery
from lightfast_pipeline.resources.catalog import CatalogResource

DECIDE_SECONDS = 20.0
"""Deliveries are decided for this long at most per tick, then the tick returns with its cursor. Dagster drops
a tick that outlives 60 s with its run requests; on a saturated machine (load 25 on 2 cores) a delivery took
1-2 s to decide, and a tick of 100 pushes timed out."""


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
    """One tick: request again the runs of earlier ticks the daemon dropped, then decide the deliveries after the
    cursor (for ``DECIDE_SECONDS`` at most), record their outcomes and request their syncs."""
    runtime = catalog.runtime(context.instance)
    deadline = time.monotonic() + DECIDE_SECONDS
    cursor = int(context.cursor or 0)
    requests: list[RunRequest] = []
    requested: dict[str, str] = {}  # repository uid -> the delivery whose run this tick requests for it
    for lost in confirm_requested_runs(runtime, context.instance):
        absorbing = pending_run_id(context.instance, lost.partition_key, lost.head)
        if absorbing:
            settle_lost_delivery(runtime, lost.delivery_id, absorbing)
            continue
        context.log.warning(f"delivery {lost.delivery_id}: its run was never created; requesting it again")
        requests.append(lost.run_request())
        requested[lost.partition_key] = lost.delivery_id
    rows = deliveries_after(runtime, cursor)
    if not rows and not requests:
        return SkipReason("no new deliveries")
    decided = 0
    for seq, delivery_id, event, action, payload, status, received_at in rows:
        if decided and time.monotonic() > deadline:
            break  # the next tick goes on from here
        cursor = seq
        if status != DeliveryStatus.RECEIVED.value:
            continue  # decided by a tick whose cursor was not saved (its runs are requested again above)
        delivery = Delivery(delivery_id, event, action, payload, received_at)
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
        record_outcome(runtime, delivery, outcome, run_id, new_requests)
        decided += 1
        requests.extend(new_requests)
        context.log.info(f"delivery {delivery_id} ({event}): {outcome.status.value} — {outcome.reason}")
    return SensorResult(run_requests=requests, cursor=str(cursor))

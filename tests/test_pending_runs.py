"""Which unfinished run absorbs a head (``jobs/ingestion.py`` ``pending_run_id``), on a real instance's run and
event storage: the runs' statuses and events are written as Dagster writes them."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dagster import AssetObservation, DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.events import AssetObservationData
from dagster._core.events.log import EventLogEntry

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import DeliveryStatus
from lightfast_pipeline.github.events import Delivery, Outcome, PlannedRun
from lightfast_pipeline.jobs.ingestion import pending_run_id, requests_for_delivery

JOB = "ingest_repository"
UID = "repo-1"
HEAD, OLDER = "a" * 40, "b" * 40


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def _run(instance: DagsterInstance, status: DagsterRunStatus) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name=JOB, run_id=run_id, status=status, tags={tags.REPOSITORY: UID}))
    return run_id


def _event(instance: DagsterInstance, run_id: str, event: DagsterEvent, at: float) -> None:
    entry = EventLogEntry(
        error_info=None,
        level=logging.DEBUG,
        user_message="",
        run_id=run_id,
        timestamp=at,
        step_key="ingestion",
        job_name=JOB,
        dagster_event=event,
    )
    instance.store_event(entry)


def _step_started(instance: DagsterInstance, run_id: str, at: float) -> None:
    event = DagsterEvent(event_type_value=DagsterEventType.STEP_START.value, job_name=JOB, step_key="ingestion")
    _event(instance, run_id, event, at)


def _head_reported(instance: DagsterInstance, run_id: str, commit: str) -> None:
    observation = AssetObservation(asset_key="documents", metadata={"commit": commit})
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_OBSERVATION.value,
        job_name=JOB,
        step_key="ingestion",
        event_specific_data=AssetObservationData(observation),
    )
    _event(instance, run_id, event, time.time())


def test_a_run_not_started_absorbs_any_head(instance: DagsterInstance) -> None:
    waiting = _run(instance, DagsterRunStatus.NOT_STARTED)  # created, not yet queued or launched
    assert pending_run_id(instance, UID, HEAD) == waiting
    assert pending_run_id(instance, "another-repository", HEAD) is None


def test_a_run_in_its_step_absorbs_the_head_it_read_only(instance: DagsterInstance) -> None:
    started = _run(instance, DagsterRunStatus.STARTED)
    _step_started(instance, started, time.time())
    _head_reported(instance, started, OLDER)
    assert pending_run_id(instance, UID, HEAD, head_seen_at=time.time() - 60) is None  # it read an older commit
    assert pending_run_id(instance, UID, OLDER) == started


def test_a_run_planning_absorbs_a_head_seen_before_its_step_began(instance: DagsterInstance) -> None:
    """A run in its step that has not reported its commit yet (it does once planned): it read the branch head
    after its step began, so it indexes any head seen before then — and maybe not one seen after."""
    step_began = time.time() - 5
    planning = _run(instance, DagsterRunStatus.STARTED)
    _step_started(instance, planning, step_began)
    assert pending_run_id(instance, UID, HEAD, head_seen_at=step_began - 1) == planning
    assert pending_run_id(instance, UID, HEAD, head_seen_at=step_began + 1) is None
    assert pending_run_id(instance, UID, HEAD) is None  # when the head was seen is unknown: not absorbed


def _push(received_at: float) -> tuple[Delivery, Outcome]:
    delivery_id = str(uuid.uuid4())
    payload = {"ref": "refs/heads/main", "after": HEAD}
    delivery = Delivery(delivery_id, "push", None, payload, datetime.fromtimestamp(received_at, UTC))
    outcome = Outcome(DeliveryStatus.PROCESSED, "push", runs=[PlannedRun(UID, "acme/docs", "acme", "octocat")])
    return delivery, outcome


def test_a_push_received_before_a_planning_run_began_its_step_is_coalesced_into_it(instance: DagsterInstance) -> None:
    """The delivery sensor's side of the rule: when the push's webhook arrived is when its head was seen."""
    step_began = time.time() - 5
    planning = _run(instance, DagsterRunStatus.STARTED)
    _step_started(instance, planning, step_began)

    delivery, outcome = _push(received_at=step_began - 1)
    requests, absorbing = requests_for_delivery(instance, delivery, outcome, {})
    assert (requests, absorbing) == ([], planning)
    assert f"coalesced into unfinished run {planning[:8]}" in outcome.reason

    delivery, outcome = _push(received_at=step_began + 1)  # the run may have read the head before this push
    requests, absorbing = requests_for_delivery(instance, delivery, outcome, {})
    assert absorbing is None
    assert [(request.partition_key, request.tags[tags.DELIVERY]) for request in requests] == [
        (UID, delivery.delivery_id)
    ]

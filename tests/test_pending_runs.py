"""Which unfinished run absorbs a head (``jobs/ingestion.py`` ``pending_run_id``), on a real instance's run and
event storage: the runs' statuses and events are written as Dagster writes them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import DeliveryStatus
from lightfast_pipeline.github.events import Delivery, Outcome, PlannedRun
from lightfast_pipeline.jobs.ingestion import pending_run_id, requests_for_delivery
from tests.support.dagster_runs import add_run, head_reported, step_started

UID = "repo-1"
HEAD, OLDER = "a" * 40, "b" * 40


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def test_a_run_not_started_absorbs_any_head(instance: DagsterInstance) -> None:
    waiting = add_run(instance, UID, DagsterRunStatus.NOT_STARTED)  # created, not yet queued or launched
    assert pending_run_id(instance, UID, HEAD) == waiting
    assert pending_run_id(instance, "another-repository", HEAD) is None


def test_a_run_in_its_step_absorbs_the_head_it_read_only(instance: DagsterInstance) -> None:
    started = add_run(instance, UID, DagsterRunStatus.STARTED)
    step_started(instance, started, time.time())
    head_reported(instance, started, OLDER)
    assert pending_run_id(instance, UID, HEAD, head_seen_at=time.time() - 60) is None  # it read an older commit
    assert pending_run_id(instance, UID, OLDER) == started


def test_a_run_planning_absorbs_a_head_seen_before_its_step_began(instance: DagsterInstance) -> None:
    """A run in its step that has not reported its commit yet (it does once planned): it read the branch head
    after its step began, so it indexes any head seen before then — and maybe not one seen after."""
    step_began = time.time() - 5
    planning = add_run(instance, UID, DagsterRunStatus.STARTED)
    step_started(instance, planning, step_began)
    assert pending_run_id(instance, UID, HEAD, head_seen_at=step_began - 1) == planning
    assert pending_run_id(instance, UID, HEAD, head_seen_at=step_began + 1) is None
    assert pending_run_id(instance, UID, HEAD) is None  # when the head was seen is unknown: not absorbed


def test_a_caller_that_prefers_waiting_counts_any_planning_run(instance: DagsterInstance) -> None:
    """The reconciliation schedule: a run still planning absorbs the head whenever it was seen; a run that reported
    an older commit does not."""
    planning = add_run(instance, UID, DagsterRunStatus.STARTED)
    step_started(instance, planning, time.time() - 5)
    assert pending_run_id(instance, UID, HEAD, planning_absorbs=True) == planning
    assert pending_run_id(instance, UID, HEAD, head_seen_at=time.time(), planning_absorbs=True) == planning
    head_reported(instance, planning, OLDER)
    assert pending_run_id(instance, UID, HEAD, planning_absorbs=True) is None


def _push(received_at: float) -> tuple[Delivery, Outcome]:
    delivery_id = str(uuid.uuid4())
    payload = {"ref": "refs/heads/main", "after": HEAD}
    delivery = Delivery(delivery_id, "push", None, payload, datetime.fromtimestamp(received_at, UTC))
    outcome = Outcome(DeliveryStatus.PROCESSED, "push", runs=[PlannedRun(UID, "acme/docs", "acme", "octocat")])
    return delivery, outcome


def test_a_push_received_before_a_planning_run_began_its_step_is_coalesced_into_it(instance: DagsterInstance) -> None:
    """The delivery sensor's side of the rule: when the push's webhook arrived is when its head was seen."""
    step_began = time.time() - 5
    planning = add_run(instance, UID, DagsterRunStatus.STARTED)
    step_started(instance, planning, step_began)

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

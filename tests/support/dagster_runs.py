"""Runs of the ingestion job written into a real instance's run and event storage, as Dagster writes them: a run
in a given status, its step's start, the commit its plan reported."""

from __future__ import annotations

import logging
import time
import uuid

from dagster import AssetObservation, DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.events import AssetObservationData
from dagster._core.events.log import EventLogEntry

from lightfast_pipeline import tags

JOB = "ingest_repository"


def add_run(instance: DagsterInstance, repository_uid: str, status: DagsterRunStatus) -> str:
    """A run of the ingestion job on this repository, in ``status``; its id."""
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name=JOB, run_id=run_id, status=status, tags={tags.REPOSITORY: repository_uid}))
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


def step_started(instance: DagsterInstance, run_id: str, at: float) -> None:
    """The run's ingestion step began at ``at`` (a Unix time)."""
    event = DagsterEvent(event_type_value=DagsterEventType.STEP_START.value, job_name=JOB, step_key="ingestion")
    _event(instance, run_id, event, at)


def head_reported(instance: DagsterInstance, run_id: str, commit: str) -> None:
    """The run's plan reported the commit it read (its ``documents`` observation)."""
    observation = AssetObservation(asset_key="documents", metadata={"commit": commit})
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_OBSERVATION.value,
        job_name=JOB,
        step_key="ingestion",
        event_specific_data=AssetObservationData(observation),
    )
    _event(instance, run_id, event, time.time())

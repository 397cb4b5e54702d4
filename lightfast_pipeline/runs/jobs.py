"""The jobs API: Dagster's run history read as this system's jobs record (there is no second jobs table).

A job is a Dagster run; its lightfast fields come from the run tags in :mod:`lightfast_pipeline.tags`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    FloatMetadataValue,
    IntMetadataValue,
    RunRecord,
    RunsFilter,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import Repository, Workspace
from lightfast_pipeline.runs import rollup
from lightfast_pipeline.runs.liveness import fail_dead_runs

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
JOB_STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)

DAGSTER_STATUSES: dict[str, tuple[DagsterRunStatus, ...]] = {
    QUEUED: (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING),
    # SUSPENDED: paused mid-run; MANAGED: run outside Dagster's control (unused here). Both in progress.
    RUNNING: (
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
        DagsterRunStatus.SUSPENDED,
        DagsterRunStatus.MANAGED,
    ),
    COMPLETED: (DagsterRunStatus.SUCCESS,),
    FAILED: (DagsterRunStatus.FAILURE,),
    CANCELLED: (DagsterRunStatus.CANCELED,),
}
_JOB_STATUS = {dagster: job for job, statuses in DAGSTER_STATUSES.items() for dagster in statuses}

MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT = 1, 100, 20


class JobError(Exception):
    """A user-facing problem with a jobs request (unknown run, bad filter, run not cancellable)."""


def job_status(status: DagsterRunStatus) -> str:
    """The jobs status of a Dagster run status."""
    return _JOB_STATUS[status]


@dataclass(frozen=True)
class Job:
    """One run seen as a job."""

    id: str
    name: str
    status: str
    trigger: str | None
    user: str | None
    workspace: str | None
    repository: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    queue_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a job (ISO-8601 UTC times)."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "trigger": self.trigger,
            "user": self.user,
            "workspace": self.workspace,
            "repository": self.repository,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "duration_ms": self.duration_ms,
            "queue_ms": self.queue_ms,
        }


@dataclass(frozen=True)
class JobDetail:
    """A job with what went in (tags, run config), what came out (counts) and why it failed."""

    job: Job
    input: dict[str, Any]
    output: dict[str, int | float]
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``jobs get``."""
        return {**self.job.to_dict(), "input": self.input, "output": self.output, "error": self.error}


@dataclass(frozen=True)
class JobPage:
    """One page of jobs, newest first."""

    jobs: list[Job]
    next_cursor: str | None
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``jobs list``."""
        return {
            "jobs": [job.to_dict() for job in self.jobs],
            "next_cursor": self.next_cursor,
            "has_more": self.has_more,
        }


@dataclass(frozen=True)
class JobStatistics:
    """Counts per status, success rate and mean duration over a window."""

    total: int
    by_status: dict[str, int] = field(default_factory=dict)
    success_rate: float | None = None
    avg_duration_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``jobs stats``."""
        return {
            "total": self.total,
            "by_status": self.by_status,
            "success_rate": self.success_rate,
            "avg_duration_ms": self.avg_duration_ms,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def job_from_record(record: RunRecord) -> Job:
    """Build a :class:`Job` from a Dagster run record."""
    run = record.dagster_run
    created = record.create_timestamp.astimezone(UTC)
    started = _from_epoch(record.start_time)
    completed = _from_epoch(record.end_time) if run.is_finished else None
    return Job(
        id=run.run_id,
        name=run.job_name,
        status=job_status(run.status),
        trigger=run.tags.get(tags.TRIGGER),
        user=run.tags.get(tags.USER),
        workspace=run.tags.get(tags.WORKSPACE),
        repository=run.tags.get(tags.REPOSITORY),
        created_at=created,
        started_at=started,
        completed_at=completed,
        duration_ms=_ms(started, completed),
        queue_ms=_ms(created, started),
    )


def runs_filter(
    workspace: str | None,
    *,
    status: str | None = None,
    repository: str | None = None,
    trigger: str | None = None,
    created_after: datetime | None = None,
) -> RunsFilter:
    """The Dagster filter selecting a workspace's jobs (``None`` filters are not applied)."""
    run_tags: dict[str, str] = {}
    if workspace is not None:
        run_tags[tags.WORKSPACE] = workspace
    if repository is not None:
        run_tags[tags.REPOSITORY] = repository
    if trigger is not None:
        if trigger not in tags.TRIGGERS:
            raise JobError(f"unknown trigger {trigger!r}; expected one of {', '.join(tags.TRIGGERS)}")
        run_tags[tags.TRIGGER] = trigger
    statuses = None
    if status is not None:
        if status not in DAGSTER_STATUSES:
            raise JobError(f"unknown status {status!r}; expected one of {', '.join(JOB_STATUSES)}")
        statuses = list(DAGSTER_STATUSES[status])
    return RunsFilter(tags=run_tags or None, statuses=statuses, created_after=created_after)


def list_jobs(
    instance: DagsterInstance,
    workspace: str | None,
    *,
    status: str | None = None,
    repository: str | None = None,
    trigger: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JobPage:
    """A page of jobs, newest first; ``cursor`` is the last job id of the previous page.

    Pages follow Dagster's run storage id (monotonic per insert), so runs sharing a timestamp are neither
    skipped nor repeated. ``workspace=None`` lists every workspace.
    """
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise JobError(f"limit must be between {MIN_LIMIT} and {MAX_LIMIT}, got {limit}")
    fail_dead_runs(instance)
    filters = runs_filter(workspace, status=status, repository=repository, trigger=trigger)
    records = instance.get_run_records(filters, limit=limit + 1, cursor=cursor)
    if not records and cursor is not None and not instance.has_run(cursor):  # checked only when it matters
        raise JobError(f"unknown cursor {cursor!r}: it must be the id of a job from the previous page")
    jobs = [job_from_record(record) for record in records[:limit]]
    has_more = len(records) > limit
    return JobPage(jobs=jobs, next_cursor=jobs[-1].id if has_more else None, has_more=has_more)


def recent_jobs(instance: DagsterInstance, workspace: str | None = None, limit: int = 10) -> list[Job]:
    """The ``limit`` newest jobs."""
    return list_jobs(instance, workspace, limit=limit).jobs


def _record(instance: DagsterInstance, run_id: str) -> RunRecord:
    records = instance.get_run_records(RunsFilter(run_ids=[run_id]), limit=1)
    if not records:
        raise JobError(f"no job with id {run_id!r}")
    return records[0]


def _count(entry: Any) -> int | float | None:
    """The number of an integer or float metadata entry (timestamps, text, JSON… are not counts)."""
    if isinstance(entry, IntMetadataValue) and entry.value is not None:
        return entry.value
    if isinstance(entry, FloatMetadataValue) and entry.value is not None and math.isfinite(entry.value):
        return entry.value
    return None


def run_output(instance: DagsterInstance, run_id: str) -> dict[str, int | float]:
    """Integer and float materialisation metadata of a run, summed per key over its materialisations."""
    totals: dict[str, int | float] = {}
    connection = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    for record in connection.records:
        event = record.event_log_entry.dagster_event
        materialization = event.step_materialization_data.materialization if event else None
        for key, entry in (materialization.metadata if materialization else {}).items():
            number = _count(entry)
            if number is not None:
                totals[key] = totals.get(key, 0) + number
    return dict(sorted(totals.items()))


RUN_ERROR_EVENTS = {
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.RUN_CANCELING,
    DagsterEventType.ENGINE_EVENT,
    DagsterEventType.RUN_FAILURE,
}


def run_error(instance: DagsterInstance, run_id: str) -> str | None:
    """Why a run failed: the first step error; else the run-level story in order, e.g. run monitoring's
    "Canceling due to exceeding maximum runtime…", or the code server's "terminated by signal 9" engine event,
    followed by the failure message itself."""
    connection = instance.get_records_for_run(run_id, of_type=RUN_ERROR_EVENTS)
    messages: list[str] = []
    last_engine_message = None
    for record in connection.records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:  # Dagster wraps the user's exception
                error = error.cause
            step = event.step_key or "step"
            return f"{step}: {error.message.strip()}" if error else (event.message or step)
        message = (event.message or record.event_log_entry.user_message or "").strip()
        if event.event_type == DagsterEventType.ENGINE_EVENT:
            last_engine_message = message
            continue
        if event.event_type == DagsterEventType.RUN_FAILURE and last_engine_message:
            messages.append(last_engine_message)  # what happened just before the run was failed
        if message:
            messages.append(message)
        last_engine_message = None
    return " ".join(messages) or None


def get_job(instance: DagsterInstance, run_id: str, workspace: str | None = None) -> JobDetail:
    """One job with its input, output and error; with ``workspace`` (a slug), another workspace's job is a
    JobError exactly like an unknown id."""
    fail_dead_runs(instance)
    record = _record(instance, run_id)
    if workspace is not None and record.dagster_run.tags.get(tags.WORKSPACE) != workspace:
        raise JobError(f"no job with id {run_id!r}")
    run = record.dagster_run
    failed = run.status == DagsterRunStatus.FAILURE
    return JobDetail(
        job=job_from_record(record),
        input={"tags": dict(sorted(run.tags.items())), "run_config": dict(run.run_config or {})},
        output=run_output(instance, run_id),
        error=run_error(instance, run_id) if failed else None,
    )


def statistics_query(workspace: str | None, since: datetime) -> sa.Select:
    """Runs created after ``since`` (and tagged with ``workspace``) grouped by Dagster status: count, mean and
    count of ``end_time - start_time`` (seconds): the exact statistics, reading every run of the window.

    The same selection as ``get_run_records(runs_filter(workspace, created_after=since))`` (Dagster compares
    ``create_timestamp`` with the naive UTC time), written as a range on ``create_timestamp`` with an EXISTS on
    the workspace tag, so both storages read our covering indexes (:mod:`lightfast_pipeline.runs.indexes`):
    the runs of the range in creation order, one index probe per run for its tag. Dagster's own query joins
    every row of the tag first, which on SQLite meant a table read per run of the workspace's whole history.
    The rollup's live parts are the same query over narrower ranges (``rollup.aggregate_query``).
    """
    return rollup.aggregate_query(workspace, since, mean=True)


def statistics(
    instance: DagsterInstance,
    workspace: str | None,
    window: timedelta,
    *,
    now: datetime | None = None,
    exact: bool = False,
) -> JobStatistics:
    """Counts per status, success rate (completed / (completed + failed), in percent) and the mean
    duration of completed jobs, over jobs created within ``window``.

    Dagster has no public aggregate over runs. The window's whole hours come from the hourly rollup of the run
    history and the rest (its first partial hour, the current hour, hours changed since they were rolled up)
    from the runs, in one snapshot (:mod:`lightfast_pipeline.runs.rollup`); with ``exact``, or on a storage
    without the rollup, one GROUP BY over every run of the window (:func:`statistics_query`), the reference
    the rollup is tested against. No run body is read or deserialised either way.
    """
    fail_dead_runs(instance)
    since = ((now or datetime.now(UTC)) - window).astimezone(UTC)  # a naive ``now`` is local time, as before
    totals = None if exact else rollup.status_totals(instance, workspace, since, now=now)
    if totals is None:
        totals = {}
        with instance.run_storage.connect() as connection:
            for status, count, mean, timed in connection.execute(statistics_query(workspace, since)):
                totals[status] = [count, timed, float(mean) * timed if timed else 0.0]
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    completed_seconds = 0.0
    completed_timed = 0
    for status, (count, timed, seconds) in totals.items():
        job = job_status(DagsterRunStatus(status))
        by_status[job] += count
        if job == COMPLETED and timed:
            completed_seconds += seconds
            completed_timed += timed
    finished = by_status[COMPLETED] + by_status[FAILED]
    return JobStatistics(
        total=sum(by_status.values()),
        by_status=by_status,
        success_rate=round(100 * by_status[COMPLETED] / finished, 2) if finished else None,
        avg_duration_ms=round(1000 * completed_seconds / completed_timed, 1) if completed_timed else None,
    )


CANCELLABLE = frozenset(DAGSTER_STATUSES[QUEUED] + DAGSTER_STATUSES[RUNNING])


def cancel_job(instance: DagsterInstance, session: Session, run_id: str, *, user: str) -> Job:
    """Cancel a queued or running job through the instance's run coordinator and record who did it.

    The run tag ``lightfast/cancelled_by`` and a ``job.cancelled`` activity row (added to ``session``)
    name the user. Raises :class:`JobError` for an unknown or finished job (nothing recorded), or when Dagster
    refuses (the tag then records the attempt; no activity row).
    """
    record = _record(instance, run_id)
    run = record.dagster_run
    if run.status not in CANCELLABLE:
        raise JobError(f"job {run_id} is {job_status(run.status)}; only queued or running jobs can be cancelled")
    # Tag first: a run worker writing its final status re-reads the run, so a tag added during that write
    # could be lost.
    instance.add_run_tags(run_id, {tags.CANCELLED_BY: user})
    if not instance.run_coordinator.cancel_run(run_id):
        raise JobError(f"Dagster could not cancel job {run_id} (its run launcher did not accept it)")
    workspace = _workspace(session, run.tags)
    record_activity(
        session,
        action=actions.JOB_CANCELLED,
        entity_type="run",
        entity_id=run_id,
        actor=user,
        workspace_id=workspace.id if workspace else None,
        repository=_repository(session, run.tags),
        before={"status": job_status(run.status)},
        run_id=run_id,
    )
    return job_from_record(_record(instance, run_id))


def _workspace(session: Session, run_tags: Mapping[str, str]) -> Workspace | None:
    slug = run_tags.get(tags.WORKSPACE)
    return session.scalar(select(Workspace).where(Workspace.slug == slug)) if slug else None


def _repository(session: Session, run_tags: Mapping[str, str]) -> Repository | None:
    uid = run_tags.get(tags.REPOSITORY)
    return session.scalar(select(Repository).where(Repository.uid == uid)) if uid else None

"""The ingestion job, and the run requests that sensors and schedules make for it."""

from __future__ import annotations

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    define_asset_job,
    in_process_executor,
)

from lightfast_pipeline import tags
from lightfast_pipeline.assets.ingestion import ingestion_assets
from lightfast_pipeline.github.events import Delivery, Outcome, PlannedRun
from lightfast_pipeline.jobs.partitions import REPOSITORIES_PARTITION, repositories_partitions

UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]

AUTOMATIC_RETRIES = {
    "dagster/max_retries": "2",
    "dagster/retry_on_asset_or_op_failure": "false",
    "dagster/retry_strategy": "ALL_STEPS",
}
"""Tags of the runs sensors and schedules request: the daemon's run retries (``run_retries`` in the instance
config) start such a run again when it failed without a step failing — its launch failed (the daemon restarts
its code servers every 60 s, and a launch sent to a server being replaced fails), its worker was killed, it
never started. A step that fails (an invalid config, an API outage) is not retried: the next push or the
reconciliation schedule runs it again. Runs started from the UI or the CLI keep Dagster's default (no retry)."""

ingest_repository_job = define_asset_job(
    "ingest_repository",
    selection=ingestion_assets,
    partitions_def=repositories_partitions,
    executor_def=in_process_executor,
    description="Ingest one repository: diff its tree, read changed files, chunk, embed what is new, write.",
)


def _step_started_at(instance: DagsterInstance, run_id: str) -> float | None:
    """When the run's ingestion step began (None before): from then on it may have read the branch head."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START, limit=1).records
    return records[0].event_log_entry.timestamp if records else None


def head_read(instance: DagsterInstance, run_id: str) -> str | None:
    """The commit the run planned from, once it has read it: the plan's observation on ``documents``, made
    before the first batch (or the ``documents`` materialisation of a run that made none)."""
    for event_type in (DagsterEventType.ASSET_OBSERVATION, DagsterEventType.ASSET_MATERIALIZATION):
        for record in instance.get_records_for_run(run_id, of_type=event_type).records:
            reported = record.asset_observation or record.asset_materialization
            if reported is not None and reported.asset_key.path == ["documents"]:
                commit = reported.metadata.get("commit")
                if commit is not None and commit.value:
                    return str(commit.value)
    return None


def pending_run_id(
    instance: DagsterInstance,
    repository_uid: str,
    head: str | None = None,
    *,
    head_seen_at: float | None = None,
    planning_absorbs: bool = False,
) -> str | None:
    """An unfinished run of this repository that will index ``head`` (or the current head when None).

    A run that has not begun its ingestion step (queued, starting, or its worker still loading) reads the
    branch head later, so it indexes every push already made: GitHub sends a push's webhook after the push.
    A run already past that point absorbs the push when the commit it read is ``head``, or, before it has
    reported that commit (it does once its plan is made: seconds on a busy machine), when its step began after
    ``head`` was on the branch (``head_seen_at``, a Unix time: the delivery sensor passes when the push's webhook
    arrived): it read that head or a later one. With ``planning_absorbs`` such a run absorbs any head: for a
    caller that would rather wait for its next look than risk a second run of the head (the reconciliation
    schedule; seen with 100 pushes at once, twice: a tick asked while a webhook run of the head was planning).
    """
    records = instance.get_run_records(RunsFilter(tags={tags.REPOSITORY: repository_uid}, statuses=UNFINISHED))
    for record in records:
        run_id = record.dagster_run.run_id
        if record.dagster_run.status != DagsterRunStatus.STARTED:
            return run_id
        step_started_at = _step_started_at(instance, run_id)
        if step_started_at is None:
            return run_id
        read = head_read(instance, run_id)
        if head is not None and read == head:
            return run_id
        if read is None and (planning_absorbs or (head_seen_at is not None and step_started_at >= head_seen_at)):
            return run_id
    return None


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
    return RunRequest(run_key=run_key, partition_key=run.repository_uid, tags={**run_tags, **AUTOMATIC_RETRIES})


def requests_for_delivery(
    instance: DagsterInstance, delivery: Delivery, outcome: Outcome, requested: dict[str, str]
) -> tuple[list[RunRequest], str | None]:
    """Run requests for the outcome's syncs; an unfinished run that will index the push absorbs it (and gives
    its run id), so N pushes during a run cause at most one follow-up run.

    ``requested`` maps the repositories given a run earlier in the same tick to that run's delivery: the pushes
    of one tick coalesce into one run (it reads the branch head when it starts, so it indexes the newest push).
    """
    requests: list[RunRequest] = []
    coalesced: str | None = None
    after = delivery.payload.get("after") if delivery.event == "push" else None
    head = str(after) if after else None
    for run in outcome.runs:
        if run.repository_uid in requested:
            outcome.reason += f"; coalesced into the run requested for delivery {requested[run.repository_uid]}"
            continue
        # GitHub sends a push's webhook after the push: a run whose step began after the delivery arrived read
        # this head or a later one, even before it reports the commit it read.
        seen_at = delivery.received_at.timestamp() if head and delivery.received_at else None
        absorbing = pending_run_id(instance, run.repository_uid, head, head_seen_at=seen_at)
        if absorbing:
            coalesced = coalesced or absorbing
            outcome.reason += f"; coalesced into unfinished run {absorbing[:8]}"
            continue
        key = delivery.delivery_id if len(outcome.runs) == 1 else f"{delivery.delivery_id}:{run.repository_uid}"
        requests.append(run_request(instance, run, run_key=key, trigger="webhook", delivery_id=delivery.delivery_id))
        requested[run.repository_uid] = delivery.delivery_id
    return requests, coalesced

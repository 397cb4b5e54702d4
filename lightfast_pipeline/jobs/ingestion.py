"""The ingestion job, and the run requests that sensors and schedules make for it."""

from __future__ import annotations

from dagster import DagsterInstance, DagsterRunStatus, RunRequest, RunsFilter, define_asset_job, in_process_executor

from lightfast_pipeline import tags
from lightfast_pipeline.assets.ingestion import ingestion_assets
from lightfast_pipeline.github.events import Delivery, Outcome, PlannedRun
from lightfast_pipeline.jobs.partitions import REPOSITORIES_PARTITION, repositories_partitions

PENDING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]

ingest_repository_job = define_asset_job(
    "ingest_repository",
    selection=ingestion_assets,
    partitions_def=repositories_partitions,
    executor_def=in_process_executor,
    description="Ingest one repository: diff its tree, read changed files, chunk, embed what is new, write.",
)


def pending_run_id(instance: DagsterInstance, repository_uid: str) -> str | None:
    """A queued run of this repository that has not started: it will read the branch head when it does."""
    records = instance.get_run_records(RunsFilter(tags={tags.REPOSITORY: repository_uid}, statuses=PENDING), limit=1)
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


def requests_for_delivery(
    instance: DagsterInstance, delivery: Delivery, outcome: Outcome, requested: dict[str, str]
) -> tuple[list[RunRequest], str | None]:
    """Run requests for the outcome's syncs; a sync already queued absorbs the push (and gives its run id).

    ``requested`` maps the repositories given a run earlier in the same tick to that run's delivery: the pushes
    of one tick coalesce into one run (it reads the branch head when it starts, so it indexes the newest push).
    """
    requests: list[RunRequest] = []
    coalesced: str | None = None
    for run in outcome.runs:
        if run.repository_uid in requested:
            outcome.reason += f"; coalesced into the run requested for delivery {requested[run.repository_uid]}"
            continue
        queued = pending_run_id(instance, run.repository_uid)
        if queued:
            coalesced = coalesced or queued
            outcome.reason += f"; coalesced into queued run {queued[:8]}"
            continue
        key = delivery.delivery_id if len(outcome.runs) == 1 else f"{delivery.delivery_id}:{run.repository_uid}"
        requests.append(run_request(instance, run, run_key=key, trigger="webhook", delivery_id=delivery.delivery_id))
        requested[run.repository_uid] = delivery.delivery_id
    return requests, coalesced

"""Reconciliation: every 15 minutes, sync each repository whose branch head moved without a delivery."""

from __future__ import annotations

from datetime import timedelta

from dagster import DagsterInstance, DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import DeliveryStatus, Repository, SourceType, WebhookDelivery, utcnow
from lightfast_pipeline.github.events import planned_run
from lightfast_pipeline.jobs.ingestion import ingest_repository_job, pending_run_id, run_request
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.github import GitHubAppResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import SourceError
from lightfast_pipeline.sources.factory import source_for

RECONCILE_CRON = "*/15 * * * *"
IN_FLIGHT = timedelta(minutes=5)


def push_in_flight(session: Session, repository: Repository) -> bool:
    """A recent push delivery the delivery sensor has not decided yet, or whose run it has not created yet (in a
    burst the daemon submits a tick's runs one by one): that run will index the head, a scheduled one would
    duplicate it (seen with 12 pushes at once: the schedule's tick fell inside the burst)."""
    if repository.source_type != SourceType.GITHUB.value:
        return False
    undecided = WebhookDelivery.status == DeliveryStatus.RECEIVED.value
    without_run = and_(WebhookDelivery.status == DeliveryStatus.PROCESSED.value, WebhookDelivery.run_id.is_(None))
    query = select(WebhookDelivery.seq).where(
        WebhookDelivery.github_repository_id == repository.source_id,
        WebhookDelivery.event == "push",
        WebhookDelivery.received_at >= utcnow() - IN_FLIGHT,
        or_(undecided, without_run),
    )
    return session.scalar(query.limit(1)) is not None


def sync_due(runtime: Runtime, instance: DagsterInstance, candidate: Repository, head: str) -> bool:
    """Whether ``head`` still needs a scheduled sync of ``candidate``, judged on the state after the head was read.

    A tick over many repositories takes seconds (one API call each): meanwhile a run may have indexed this head
    or been queued for it. So the run queue is asked first, then the repository is read afresh (a new session:
    on SQLite an open read transaction would keep showing the tick's first snapshot). Seen with 100 pushes at
    once: a commit read at the start of the tick made a second run of a head a webhook run had just indexed.
    """
    # A run still planning counts whichever head it reads: if it missed this one, the next tick syncs it (a
    # 15-minute wait), while a second run of the head could not be undone. When the push happened is unknown
    # here, so "its step began after the tick saw the head" was not enough: a webhook run of a push made minutes
    # before began planning just before the tick read the head (100 pushes at once, 2026-11-30 19:00).
    if pending_run_id(instance, candidate.uid, head, planning_absorbs=True):
        return False
    with runtime.session() as session:
        repository = session.get(Repository, candidate.id)
        if repository is None or not repository.active:
            return False
        if push_in_flight(session, repository) or head == repository.last_ingested_commit:
            return False
        # An invalid lightfast.yml at this very head: a run would fail again (and notify again).
        return not (repository.config_status == "error" and head == repository.config_commit)


@schedule(
    job=ingest_repository_job,
    cron_schedule=RECONCILE_CRON,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Compares each active repository's branch head with its last ingested commit (1 call each).",
)
def reconciliation_schedule(
    context: ScheduleEvaluationContext, catalog: CatalogResource, github: GitHubAppResource
) -> list[RunRequest] | SkipReason:
    """A scheduled sync for every active repository whose head differs from its last ingested commit, except
    one whose config was found invalid at that very head (retried once the head moves)."""
    runtime = catalog.runtime(context.instance, github=github.github_settings())
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M") if context.scheduled_execution_time else "now"
    requests: list[RunRequest] = []
    unreachable: list[str] = []
    with runtime.session() as session:
        candidates = session.scalars(
            select(Repository).where(
                Repository.active.is_(True), Repository.archived.is_(False), Repository.suspended.is_(False)
            )
        )
        for repository in candidates:
            try:
                head = source_for(repository, runtime.settings, runtime.github).head_commit(repository.default_branch)
            except SourceError as error:
                unreachable.append(f"{repository.full_name}: {error}")
                continue
            if not sync_due(runtime, context.instance, repository, head):
                continue
            run = planned_run(repository, "system")
            key = f"reconcile:{repository.uid}:{tick}"
            requests.append(run_request(context.instance, run, run_key=key, trigger="scheduled"))
    for problem in unreachable:
        context.log.warning(f"reconciliation skipped {problem}")
    return requests or SkipReason("every repository is at its branch head")

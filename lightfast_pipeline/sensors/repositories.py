"""The repository lifecycle sensor: requests the initial sync of every connected, never-synced repository."""

from __future__ import annotations

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from sqlalchemy import func, select

from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, Repository
from lightfast_pipeline.github.events import planned_run
from lightfast_pipeline.jobs.ingestion import ingest_repository_job, pending_run_id, run_request
from lightfast_pipeline.resources.catalog import CatalogResource


@sensor(
    job=ingest_repository_job,
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests the initial sync (trigger automatic) of each newly connected repository.",
)
def repository_lifecycle_sensor(
    context: SensorEvaluationContext, catalog: CatalogResource
) -> SensorResult | SkipReason:
    """One run per connection (run key: uid + latest connect), never for archived or paused repositories."""
    runtime = catalog.runtime(context.instance)
    requests: list[RunRequest] = []
    with runtime.session() as session:
        never_synced = session.scalars(
            select(Repository).where(
                Repository.active.is_(True),
                Repository.archived.is_(False),
                Repository.suspended.is_(False),
                Repository.last_ingested_commit.is_(None),
            )
        )
        for repository in never_synced:
            if pending_run_id(context.instance, repository.uid):
                continue
            connected = session.scalar(
                select(func.max(ActivityEvent.id)).where(
                    ActivityEvent.action == actions.REPOSITORY_CONNECTED,
                    ActivityEvent.repository_id == repository.id,
                )
            )
            run = planned_run(repository, repository.connected_by or "system")
            key = f"initial:{repository.uid}:{connected or 0}"
            requests.append(run_request(context.instance, run, run_key=key, trigger="automatic"))
    if not requests:
        return SkipReason("every connected repository has synced")
    return SensorResult(run_requests=requests)

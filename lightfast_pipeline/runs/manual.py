"""A manual ingestion request (`lightfast ingest`, `lightfast store rebuild`): its run tags and its activity row.

The row is recorded ``in_progress`` before the run starts and completed with the run's outcome after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import ActivityEvent
from lightfast_pipeline.runs.launch import RunOutcome, ingestion_tags
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.workspaces.repositories import find_repository


@dataclass(frozen=True)
class ManualRequest:
    """What launching and finishing a requested run needs."""

    run_tags: dict[str, str]
    activity_id: int
    repository_name: str


def request_ingestion(runtime: Runtime, repo: str, *, full: bool, user: str) -> ManualRequest:
    """Record that ``user`` asked to ingest ``repo`` now, and return the tags of the run to launch."""
    with runtime.session() as session:
        repository = find_repository(session, repo)
        run_tags = ingestion_tags(
            trigger="manual",
            user=user,
            workspace_slug=repository.workspace.slug,
            repository_uid=repository.uid,
            repository_name=repository.full_name,
            full=full,
        )
        activity = record_activity(
            session,
            action=actions.REINDEX_REQUESTED,
            entity_type="repository",
            entity_id=repository.id,
            actor=user,
            repository=repository,
            status="in_progress",
            reason="full reindex" if full else "manual ingest",
        )
        session.flush()
        return ManualRequest(run_tags=run_tags, activity_id=activity.id, repository_name=repository.full_name)


def finish_request(runtime: Runtime, request: ManualRequest, outcome: RunOutcome) -> None:
    """Complete the request's activity row with the run it caused and how that run ended."""
    completed = outcome.status == "completed"
    with runtime.session() as session:
        session.execute(
            update(ActivityEvent)
            .where(ActivityEvent.id == request.activity_id)
            .values(
                run_id=outcome.run_id,
                status="success" if completed else "failure",
                message=None if completed else outcome.error,
            )
        )

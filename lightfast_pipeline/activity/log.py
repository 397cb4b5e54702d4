"""Recording activity: one row per user or system action, written in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import ActivityEvent, Repository, utcnow


def record_activity(
    session: Session,
    *,
    action: str,
    entity_type: str,
    entity_id: str | int | None = None,
    actor: str = "system",
    workspace_id: int | None = None,
    repository: Repository | None = None,
    source_type: str | None = None,
    status: str = "success",
    reason: str | None = None,
    message: str | None = None,
    impact: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    run_id: str | None = None,
    delivery_id: str | None = None,
    at: datetime | None = None,
) -> ActivityEvent:
    """Add one activity row to ``session`` (committed with the change it describes).

    ``at`` defaults to now; a naive ``at`` is taken as UTC and an aware one is converted to UTC.
    """
    event = ActivityEvent(
        at=_utc(at) if at else utcnow(),
        actor=actor or "system",
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        workspace_id=workspace_id if workspace_id is not None else getattr(repository, "workspace_id", None),
        source_type=source_type or (repository.source_type if repository else None),
        repository_id=repository.id if repository else None,
        repository_name=repository.full_name if repository else None,
        status=status,
        reason=reason,
        message=message,
        impact=impact or {},
        before=before,
        after=after,
        run_id=run_id,
        delivery_id=delivery_id,
    )
    session.add(event)
    return event


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

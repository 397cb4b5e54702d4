"""Recording health transitions: levels are computed elsewhere (metrics); this keeps one row per change.

The last ``health.changed`` row of an entity holds its current level (``after["level"]``); an entity never
recorded counts as ``healthy``, and ``idle`` (nothing finished in the window) is no information, not a
change. Call :func:`record_health_levels` from one place per evaluation (the metrics asset): two
concurrent evaluations of the same entity could both record the same change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.activity.notify import HEALTH_KEY, queue_notification
from lightfast_pipeline.catalog.db import session_scope
from lightfast_pipeline.catalog.models import ActivityEvent, Repository, Workspace
from lightfast_pipeline.settings import Settings

HEALTHY, DEGRADED, DOWN, IDLE = "healthy", "degraded", "down", "idle"
LEVELS = (HEALTHY, DEGRADED, DOWN)
SCOPES = ("overall", "workspace", "store", "source")


@dataclass(frozen=True)
class HealthLevel:
    """One entity's computed level: scope ``workspace`` (key = slug), ``store`` (key = store slug),
    ``source`` (key = repository full name) or ``overall``; ``workspace`` is the slug it belongs to."""

    scope: str
    key: str
    level: str
    workspace: str | None = None
    reason: str | None = None

    @property
    def entity_id(self) -> str:
        """Stable id of the entity: store and source keys are only unique inside their workspace."""
        if self.scope in ("store", "source") and self.workspace:
            return f"{self.workspace}/{self.key}"
        return self.key


def current_level(session: Session, scope: str, entity_id: str) -> str:
    """The level recorded last for an entity (``healthy`` when none was)."""
    after = session.scalar(
        select(ActivityEvent.after)
        .where(
            ActivityEvent.action == actions.HEALTH_CHANGED,
            ActivityEvent.entity_type == scope,
            ActivityEvent.entity_id == entity_id,
        )
        .order_by(ActivityEvent.at.desc(), ActivityEvent.id.desc())
        .limit(1)
    )
    return (after or {}).get("level", HEALTHY)


def record_health_levels(session: Session, levels: Iterable[HealthLevel], *, notify: bool) -> list[ActivityEvent]:
    """Record a ``health.changed`` row for each entity whose level differs from its recorded one.

    With ``notify`` each change also queues a notification (sent by the notification sensor). Returns
    the rows added to ``session``.
    """
    changes = []
    for item in levels:
        if item.scope not in SCOPES:
            raise ValueError(f"unknown health scope {item.scope!r}; expected one of {', '.join(SCOPES)}")
        if item.level == IDLE:
            continue
        if item.level not in LEVELS:
            raise ValueError(f"unknown health level {item.level!r}; expected one of {', '.join(LEVELS)}, idle")
        previous = current_level(session, item.scope, item.entity_id)
        if previous == item.level:
            continue
        workspace_id = (
            session.scalar(select(Workspace.id).where(Workspace.slug == item.workspace)) if item.workspace else None
        )
        repository = None
        if item.scope == "source" and workspace_id is not None:
            repository = session.scalar(
                select(Repository).where(Repository.workspace_id == workspace_id, Repository.full_name == item.key)
            )
        event = record_activity(
            session,
            action=actions.HEALTH_CHANGED,
            entity_type=item.scope,
            entity_id=item.entity_id,
            workspace_id=workspace_id,
            repository=repository,
            status="success" if item.level == HEALTHY else "failure",
            reason=item.reason,
            before={"level": previous},
            after={"level": item.level},
        )
        if item.scope == "source" and repository is None:
            event.repository_name = item.key
        session.flush()
        if notify:
            queue_notification(session, f"{HEALTH_KEY}{event.id}")
        changes.append(event)
    return changes


def record_workspace_health(settings: Settings, workspaces: Mapping[str, str], *, notify: bool) -> list[int]:
    """Record the workspace levels (``slug -> level``) the metrics asset computed; queue their notifications
    when ``notify`` (a webhook is configured). Returns the ids of the ``health.changed`` rows added."""
    levels = [HealthLevel("workspace", slug, level, workspace=slug) for slug, level in workspaces.items()]
    with session_scope(settings.database_url) as session:
        events = record_health_levels(session, levels, notify=notify)
        session.flush()
        return [event.id for event in events]

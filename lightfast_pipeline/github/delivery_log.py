"""Listing stored webhook deliveries (`lightfast webhooks deliveries`, `GET /v1/deliveries`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import DeliveryStatus, Repository, SourceType, WebhookDelivery


class DeliveryError(ValueError):
    """A bad deliveries request (unknown status)."""


def delivery_dict(row: WebhookDelivery) -> dict[str, Any]:
    """The public fields of a delivery (never its payload)."""
    return {
        "id": row.delivery_id,
        "event": row.event,
        "action": row.action,
        "repository": row.repository_full_name,
        "status": row.status,
        "reason": row.reason,
        "run_id": row.run_id,
        "received_at": row.received_at,
    }


def list_deliveries(
    session: Session, *, status: str | None = None, limit: int = 50, workspace: int | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` deliveries; with ``workspace``, only those about its GitHub repositories
    (App-wide events such as installations name no repository and are left out)."""
    known = [s.value for s in DeliveryStatus]
    if status is not None and status not in known:
        raise DeliveryError(f"unknown status {status!r}; use one of: {', '.join(known)}")
    query = select(WebhookDelivery).order_by(WebhookDelivery.seq.desc()).limit(limit)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if workspace is not None:
        ids = select(Repository.source_id).where(
            Repository.workspace_id == workspace, Repository.source_type == SourceType.GITHUB.value
        )
        query = query.where(WebhookDelivery.github_repository_id.in_(ids))
    return [delivery_dict(row) for row in session.scalars(query)]

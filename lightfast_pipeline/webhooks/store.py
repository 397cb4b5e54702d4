"""Stored deliveries: storing a received one is one catalog transaction (delivery row + its activity row), nothing
else; listing them shows what each one caused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import DeliveryStatus, SourceType, WebhookDelivery
from lightfast_pipeline.runtime import Runtime


@dataclass(frozen=True)
class IncomingDelivery:
    """What the receiver extracted from a verified request."""

    delivery_id: str
    event: str
    payload: dict[str, Any]

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None

    def _nested(self, key: str, field: str) -> Any:
        value = self.payload.get(key)
        return value.get(field) if isinstance(value, dict) else None

    def row(self) -> WebhookDelivery:
        """The catalog row (status ``received``)."""
        repository_id = self._nested("repository", "id")
        installation_id = self._nested("installation", "id")
        return WebhookDelivery(
            delivery_id=self.delivery_id,
            event=self.event,
            action=self.action,
            github_repository_id=None if repository_id is None else str(repository_id),
            repository_full_name=self._nested("repository", "full_name"),
            installation_id=None if installation_id is None else str(installation_id),
            sender=self._nested("sender", "login"),
            payload=self.payload,
            status=DeliveryStatus.RECEIVED.value,
        )


def store_delivery(runtime: Runtime, delivery: IncomingDelivery) -> bool:
    """Store the delivery and its ``delivery.received`` activity; False when the id was already stored."""
    try:
        with runtime.session() as session:
            if session.scalar(select(WebhookDelivery.seq).where(WebhookDelivery.delivery_id == delivery.delivery_id)):
                return False
            row = delivery.row()
            session.add(row)
            event = record_activity(
                session,
                action=actions.DELIVERY_RECEIVED,
                entity_type="delivery",
                entity_id=delivery.delivery_id,
                actor=row.sender or "github",
                source_type=SourceType.GITHUB.value,
                status="in_progress",
                message=f"{row.event}.{row.action}" if row.action else row.event,
                delivery_id=delivery.delivery_id,
            )
            event.repository_name = row.repository_full_name
    except IntegrityError:  # the same id stored concurrently by another request
        return False
    return True


def delivery_fields(row: WebhookDelivery) -> dict[str, Any]:
    """The public fields of a stored delivery (the JSON of `lightfast webhooks deliveries`)."""
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


def list_deliveries(runtime: Runtime, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` stored deliveries (only those with ``status`` if given), newest first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.seq.desc()).limit(limit)
    if status:
        query = query.where(WebhookDelivery.status == status)
    with runtime.session() as session:
        return [delivery_fields(row) for row in session.scalars(query)]

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

# Column widths of ``webhook_deliveries``: the receiver refuses a delivery id or event name longer than these
# (400) and stores an over-long or non-string optional field as empty, so no payload can make an insert fail.
DELIVERY_ID_MAX = 100
EVENT_MAX = 60
ACTION_MAX = 60
ID_MAX = 64
FULL_NAME_MAX = 300
SENDER_MAX = 200


def _text(value: object, limit: int) -> str | None:
    """``value`` when it is a string of at most ``limit`` characters, else None."""
    return value if isinstance(value, str) and len(value) <= limit else None


@dataclass(frozen=True)
class IncomingDelivery:
    """What the receiver extracted from a verified request."""

    delivery_id: str
    event: str
    payload: dict[str, Any]

    @property
    def action(self) -> str | None:
        return _text(self.payload.get("action"), ACTION_MAX)

    def _nested(self, key: str, field: str) -> Any:
        value = self.payload.get(key)
        return value.get(field) if isinstance(value, dict) else None

    def _identifier(self, key: str) -> str | None:
        """``payload[key].id`` as text when it is a whole number or a short string (else None)."""
        value = self._nested(key, "id")
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None
        return _text(str(value), ID_MAX)

    def row(self) -> WebhookDelivery:
        """The catalog row (status ``received``); fields of the wrong type or too long are left empty."""
        return WebhookDelivery(
            delivery_id=self.delivery_id,
            event=self.event,
            action=self.action,
            github_repository_id=self._identifier("repository"),
            repository_full_name=_text(self._nested("repository", "full_name"), FULL_NAME_MAX),
            installation_id=self._identifier("installation"),
            sender=_text(self._nested("sender", "login"), SENDER_MAX),
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


def list_deliveries(
    runtime: Runtime, *, status: str | None = None, limit: int = 50, workspace: str | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` stored deliveries (only those with ``status`` if given; with ``workspace``, a slug or
    name, only those about its GitHub repositories), newest first: the API's query (``github/delivery_log.py``);
    DeliveryError for an unknown status, WorkspaceError for an unknown workspace."""
    from lightfast_pipeline.github.delivery_log import list_deliveries as query
    from lightfast_pipeline.workspaces.workspace import find_workspace

    with runtime.session() as session:
        workspace_id = find_workspace(session, workspace).id if workspace is not None else None
        return query(session, status=status, limit=limit, workspace=workspace_id)

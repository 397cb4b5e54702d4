"""Time to searchable: a webhook delivery's arrival to the completion of the ingestion run it caused."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import MetricPoint, Repository, WebhookDelivery
from lightfast_pipeline.metrics.record import record_metric


def record_time_to_searchable(
    session: Session, run_id: str, run_tags: Mapping[str, str], completed_at: datetime
) -> list[MetricPoint]:
    """Record one ``time_to_searchable`` point (ms) per delivery served by the completed run ``run_id``.

    A delivery belongs to the run when the run carries its id in the ``lightfast/delivery`` tag or the
    delivery row names the run (several pushes debounced into one run each get their own point).
    """
    matches = [WebhookDelivery.run_id == run_id]
    if run_tags.get(tags.DELIVERY):
        matches.append(WebhookDelivery.delivery_id == run_tags[tags.DELIVERY])
    deliveries = session.scalars(select(WebhookDelivery).where(or_(*matches)).order_by(WebhookDelivery.seq)).all()
    if not deliveries:
        return []
    repository = None
    if run_tags.get(tags.REPOSITORY):
        repository = session.scalar(select(Repository).where(Repository.uid == run_tags[tags.REPOSITORY]))
    return [
        record_metric(
            session,
            "time_to_searchable",
            max(0.0, (completed_at - delivery.received_at).total_seconds() * 1000),
            workspace_id=repository.workspace_id if repository else None,
            repository_id=repository.id if repository else None,
            tags={"delivery": delivery.delivery_id, "run_id": run_id, "event": delivery.event},
            at=completed_at,
        )
        for delivery in deliveries
    ]

"""Recording metric points where they happen: one catalog insert, no DuckDB in run processes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import MetricPoint, utcnow

METRIC_TYPES = {
    "job_duration": "ms",
    "documents_indexed": "count",
    "chunks_embedded": "count",
    "errors": "count",
    "api_calls": "count",
    "query_latency": "ms",
    "queries_count": "count",
    "time_to_searchable": "ms",
}


def record_metric(
    session: Session,
    metric_type: str,
    value: float,
    *,
    workspace_id: int | None = None,
    repository_id: int | None = None,
    tags: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> MetricPoint:
    """Add one metric point to ``session``; the unit comes from the metric type."""
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"unknown metric type {metric_type!r}; known: {', '.join(sorted(METRIC_TYPES))}")
    point = MetricPoint(
        at=at or utcnow(),
        workspace_id=workspace_id,
        repository_id=repository_id,
        type=metric_type,
        value=float(value),
        unit=METRIC_TYPES[metric_type],
        tags=tags or {},
    )
    session.add(point)
    return point

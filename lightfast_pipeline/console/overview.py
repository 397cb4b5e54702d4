"""The overview page's figures: the workspace routes of the API, time to searchable, and the charts."""

from __future__ import annotations

from typing import Any

from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.api.routers import workspace as workspace_api
from lightfast_pipeline.console.charts import line_chart
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.metrics.stats import read_models
from lightfast_pipeline.runtime import Runtime

COMPARED = ("total", "completed", "failed", "success_rate", "avg_duration_ms")


def searchable_percentiles(runtime: Runtime, principal: Principal, range_: str) -> dict[str, Any]:
    """Delivery → searchable (ms) p50/p95/p99/max over the range, from the warehouse's dbt model."""

    def read() -> dict[str, Any]:
        with read_models(
            runtime.settings.warehouse_path, workspace_api._range(range_), principal.workspace_slug
        ) as con:
            cursor = con.execute("select * from time_to_searchable_percentiles")
            names = [column[0] for column in cursor.description]
            return dict(zip(names, cursor.fetchone() or (), strict=False))

    return workspace_api._warehouse(read)


def overview_context(runtime: Runtime, principal: Principal, range_: str, nonce: str | None) -> dict[str, Any]:
    """Everything the overview shows; a section the warehouse cannot answer yet carries its reason instead."""
    context: dict[str, Any] = {
        "statistics": workspace_api.statistics(principal=principal, runtime=runtime),
        "warehouse_error": None,
        "comparison": {},
        "percentiles": {},
        "searchable": {},
        "charts": [],
        "health": None,
        "series": [],
    }
    try:
        context["comparison"] = workspace_api.comparison(range_=range_, principal=principal, runtime=runtime)[
            "comparison"
        ]
        context["percentiles"] = workspace_api.percentiles(range_=range_, principal=principal, runtime=runtime)[
            "percentiles"
        ]
        series = workspace_api.timeseries(range_=range_, principal=principal, runtime=runtime)["timeseries"]
        context["health"] = workspace_api.health(range_=range_, principal=principal, runtime=runtime)
        context["searchable"] = searchable_percentiles(runtime, principal, range_)
    except ApiError as error:
        context["warehouse_error"] = error.message
        return context
    context["series"] = series
    context["charts"] = [
        line_chart("jobs", "Jobs per hour", series, "jobs", nonce),
        line_chart("duration", "Mean duration (ms)", series, "avg_duration_ms", nonce),
        line_chart("success", "Success rate (%)", series, "success_rate", nonce),
    ]
    return context

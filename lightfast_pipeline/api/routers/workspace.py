"""`/v1/workspace`: the key's workspace, its statistics, comparison, percentiles, hourly series and health."""

from __future__ import annotations

from typing import Any, Literal

import duckdb
from fastapi import APIRouter, Depends, Query

from lightfast_pipeline.api.auth import current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.catalog.models import Workspace
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.metrics.ranges import RangeError, StatsRange, parse_range
from lightfast_pipeline.metrics.stats import WarehouseNotReady, health_tree, read_stats
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.workspaces.queries import workspace_dict, workspace_statistics

router = APIRouter(prefix="/v1/workspace", tags=["workspace"])
RANGE = Query("24h", alias="range", max_length=100, description="24h, 7d, 30d or FROM..TO (ISO dates or times, UTC).")


def _range(text: str) -> StatsRange:
    try:
        return parse_range(text)
    except RangeError as error:
        raise ApiError(422, f"range: {error}") from None
    except (OverflowError, ValueError):
        raise ApiError(422, f"range: {text!r} is out of bounds") from None


def _warehouse(call: Any) -> dict[str, Any]:
    """Read the warehouse; a missing warehouse or a writer holding its lock answers 503."""
    try:
        return call()
    except WarehouseNotReady as error:
        raise ApiError(503, str(error), code="warehouse_not_ready", headers={"Retry-After": "60"}) from None
    except duckdb.IOException:
        raise ApiError(503, "the warehouse is being refreshed", headers={"Retry-After": "5"}) from None


def _stats(runtime: Runtime, principal: Principal, text: str, **sections: bool) -> dict[str, Any]:
    stats_range = _range(text)
    return _warehouse(
        lambda: read_stats(
            runtime.settings.warehouse_path, stats_range, workspace=principal.workspace_slug, summary=False, **sections
        )
    )


@router.get("")
def get_workspace(
    principal: Principal = Depends(current_principal), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """The key's workspace: id, name, slug, key, organisation."""
    with runtime.session() as session:
        workspace = session.get(Workspace, principal.workspace_id)
        assert workspace is not None
        return workspace_dict(workspace)


@router.get("/statistics")
def statistics(
    principal: Principal = Depends(current_principal), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """Sources by type, stores with documents and chunks, totals, and the jobs of the last 24 hours (live)."""
    return workspace_statistics(runtime, principal.workspace_id)


@router.get("/statistics/comparison")
def comparison(
    range_: str = Query("7d", alias="range", max_length=100, description="24h, 7d, 30d or FROM..TO."),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Each jobs figure in the range and in the previous period of equal length, with the change in percent."""
    result = _stats(runtime, principal, range_, compare=True)
    return {"range": result["range"], "comparison": result["comparison"]}


@router.get("/percentiles")
def percentiles(
    range_: Literal["24h", "7d", "30d"] = Query("24h", alias="range"),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Duration p50/p95/p99/max (ms) of completed jobs, and the sample size."""
    result = _stats(runtime, principal, range_, percentiles=True)
    return {"range": result["range"], "percentiles": result["percentiles"]}


@router.get("/timeseries")
def timeseries(
    range_: str = RANGE,
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Every hour of the range (UTC, gaps filled): jobs, mean duration, success rate."""
    result = _stats(runtime, principal, range_, timeseries=True)
    return {"range": result["range"], "timeseries": result["timeseries"]}


@router.get("/health")
def health(
    range_: str = RANGE,
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Workspace → stores → sources: healthy, degraded, down or idle, each with the reason."""
    stats_range = _range(range_)
    return _warehouse(lambda: health_tree(runtime.settings.warehouse_path, stats_range, principal.workspace_slug))

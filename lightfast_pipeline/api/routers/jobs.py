"""`/v1/jobs`: the jobs API over Dagster's run history, scoped to the key's workspace."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as ApiPath

from lightfast_pipeline.api.auth import admin_principal, current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError, not_found
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runs import jobs as runs
from lightfast_pipeline.runtime import Runtime

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
RUN_ID = ApiPath(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="Job (run) id.")
Status = Literal["queued", "running", "completed", "failed", "cancelled"]
Trigger = Literal["manual", "scheduled", "webhook", "automatic"]


def _own_job(runtime: Runtime, principal: Principal, run_id: str) -> runs.JobDetail:
    """The job when it belongs to the key's workspace; 404 for unknown ids and other workspaces' jobs alike."""
    try:
        return runs.get_job(runtime.instance, run_id, principal.workspace_slug)
    except runs.JobError:
        raise not_found("job") from None


@router.get("")
def list_(
    status: Status | None = None,
    repository: str | None = Query(None, max_length=64, description="Repository uid."),
    trigger: Trigger | None = None,
    limit: int = Query(runs.DEFAULT_LIMIT, ge=runs.MIN_LIMIT, le=runs.MAX_LIMIT),
    cursor: str | None = Query(None, max_length=64, pattern=r"^[A-Za-z0-9-]+$"),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Jobs, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""
    try:
        page = runs.list_jobs(
            runtime.instance,
            principal.workspace_slug,
            status=status,
            repository=repository,
            trigger=trigger,
            limit=limit,
            cursor=cursor,
        )
    except runs.JobError as error:
        raise ApiError(422, str(error)) from None
    return page.to_dict()


@router.get("/recent")
def recent(
    limit: int = Query(10, ge=1, le=runs.MAX_LIMIT),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """The newest jobs."""
    return {"jobs": [job.to_dict() for job in runs.recent_jobs(runtime.instance, principal.workspace_slug, limit)]}


@router.get("/stats")
def stats(
    hours: float = Query(24.0, gt=0, le=24 * 366, description="Jobs created in the last N hours."),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Counts per status, success rate and mean duration of completed jobs."""
    return runs.statistics(runtime.instance, principal.workspace_slug, timedelta(hours=hours)).to_dict()


@router.get("/{run_id}")
def get(
    run_id: str = RUN_ID, principal: Principal = Depends(current_principal), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """One job with its input, output and error."""
    return _own_job(runtime, principal, run_id).to_dict()


@router.post("/{run_id}/cancel")
def cancel(
    run_id: str = RUN_ID, principal: Principal = Depends(admin_principal), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """Cancel a queued or running job (409 when it has finished); the key's name is recorded as who did it."""
    _own_job(runtime, principal, run_id)
    try:
        with runtime.session() as session:
            job = runs.cancel_job(runtime.instance, session, run_id, user=principal.actor)
    except runs.JobError as error:
        raise ApiError(409, str(error)) from None
    return job.to_dict()

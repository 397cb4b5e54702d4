"""Console endpoints behind the pages: the live stream, export, job details, and the mutations.

Mutations need an admin key's session and its CSRF token (``X-CSRF-Token``), and run the API's own route
functions with the signed-in principal, so they record the same activity (the key's name as actor) and answer
the same JSON and errors as ``/v1``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lightfast_pipeline.api.auth import runtime_of
from lightfast_pipeline.api.routers import activity as activity_api
from lightfast_pipeline.api.routers import jobs as jobs_api
from lightfast_pipeline.api.routers import repositories as repositories_api
from lightfast_pipeline.console.auth import Viewer, mutator, reader
from lightfast_pipeline.console.pages import PAGE_SIZE, _activity_filters, timeline_filter_of
from lightfast_pipeline.console.render import render_fragment
from lightfast_pipeline.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)
RUN_ID = jobs_api.RUN_ID
REPOSITORY_ID = ApiPath(..., ge=1, le=repositories_api.ID)


@router.get("/activity/stream")
def activity_stream(
    request: Request,
    interval: float = Query(0.5, ge=0.2, le=30.0),
    viewer: Viewer = Depends(reader),
    runtime: Runtime = Depends(runtime_of),
) -> StreamingResponse:
    """The API's event stream for the page's filters, each event's entry also rendered as a timeline row.

    It starts with the page's worth of newest entries: what was written or changed between the page's render and
    this connection (or during a reconnection) reaches the page too; rows it already shows are replaced in place.
    """
    filters = timeline_filter_of(viewer, _activity_filters(request))
    upstream = activity_api.stream(filters=filters, interval=interval, backlog=PAGE_SIZE, runtime=runtime)

    async def events() -> AsyncIterator[str]:
        async for event in upstream.body_iterator:
            yield _with_row(str(event))

    return StreamingResponse(events(), media_type="text/event-stream", headers=dict(upstream.headers))


def _with_row(event: str) -> str:
    """An ``activity`` event with ``html`` (the row) added to its JSON data; other events unchanged."""
    if not event.startswith("event: activity"):
        return event
    head, _, data = event.rstrip("\n").rpartition("data: ")
    entry = json.loads(data)
    entry["html"] = render_fragment("_row.html", entry=entry)
    return f"{head}data: {json.dumps(entry, ensure_ascii=False)}\n\n"


@router.get("/activity/export")
def activity_export(
    request: Request,
    format_: Literal["csv", "json"] = Query("csv", alias="format"),
    viewer: Viewer = Depends(reader),
    runtime: Runtime = Depends(runtime_of),
) -> StreamingResponse:
    """The API's export of the page's filters (CSV or JSON, every matching row)."""
    filters = timeline_filter_of(viewer, _activity_filters(request))
    return activity_api.export(format_=format_, filters=filters, runtime=runtime)


@router.get("/jobs/{run_id}")
def job_detail(
    run_id: str = RUN_ID, viewer: Viewer = Depends(reader), runtime: Runtime = Depends(runtime_of)
) -> HTMLResponse:
    """A job's detail panel (times, duration, output counts, error, Dagster UI link) for an expanded row."""
    job = jobs_api.get(run_id=run_id, principal=viewer.principal, runtime=runtime)
    return HTMLResponse(render_fragment("_job_detail.html", job=job))


@router.post("/jobs/{run_id}/cancel")
def cancel_job(
    run_id: str = RUN_ID, viewer: Viewer = Depends(mutator), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """Cancel a queued or running job (the API's cancel: 409 when it has finished)."""
    return jobs_api.cancel(run_id=run_id, principal=viewer.principal, runtime=runtime)


@router.post("/repositories/{repository_id}/reindex")
def reindex(
    repository_id: int = REPOSITORY_ID,
    full: bool = Query(False),
    viewer: Viewer = Depends(mutator),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Start an ingestion run; the answer carries the new job's row for the page."""
    started = repositories_api.reindex(
        repository_id=repository_id, full=full, principal=viewer.principal, runtime=runtime
    )
    job = jobs_api.get(run_id=started["run_id"], principal=viewer.principal, runtime=runtime)
    repository = repositories_api.get(repository_id=repository_id, principal=viewer.principal, runtime=runtime)
    names = {repository["uid"]: repository["name"]}
    return {**started, "html": render_fragment("_job_row.html", job=job, can_mutate=True, names=names)}


@router.post("/repositories/{repository_id}/detect-config")
def detect_config(
    repository_id: int = REPOSITORY_ID, viewer: Viewer = Depends(mutator), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """Re-read ``lightfast.yml`` at the branch head."""
    return repositories_api.detect(repository_id=repository_id, principal=viewer.principal, runtime=runtime)


class ConnectForm(BaseModel):
    """A GitHub repository of an installation, or a local path (when the server allows)."""

    model_config = ConfigDict(extra="forbid")
    github: str | None = Field(None, max_length=200)
    installation_id: str | None = Field(None, max_length=64, pattern=r"^[0-9]+$")
    path: str | None = Field(None, max_length=4096)


@router.post("/repositories")
def connect(
    body: ConnectForm, request: Request, viewer: Viewer = Depends(mutator), runtime: Runtime = Depends(runtime_of)
) -> dict[str, Any]:
    """Connect a repository (the API's connect, config detected)."""
    api_body = repositories_api.ConnectBody(**body.model_dump())
    return repositories_api.connect(body=api_body, request=request, principal=viewer.principal, runtime=runtime)

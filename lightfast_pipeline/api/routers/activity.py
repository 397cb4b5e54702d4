"""`/v1/activity`: the timeline (filters, search, cursor), its streamed export and a live event stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from lightfast_pipeline.activity.export import export_chunks
from lightfast_pipeline.activity.follow import WINDOW, follow
from lightfast_pipeline.activity.timeline import TimelineError, TimelineFilter, iter_timeline, timeline_page
from lightfast_pipeline.activity.times import parse_time
from lightfast_pipeline.api.auth import current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime

router = APIRouter(prefix="/v1/activity", tags=["activity"])
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def timeline_filter(
    type_: list[str] = Query([], alias="type", max_length=20, description="Action or prefix (repeatable)."),
    source: list[str] = Query([], max_length=5, description="github | local (repeatable)."),
    repository: str | None = Query(None, max_length=300, description="Repository full name or uid."),
    actor: str | None = Query(None, max_length=200, description="User login, key name, or 'system'."),
    status: list[str] = Query([], max_length=5, description="success|failure|in_progress|skipped|cancelled."),
    since: str | None = Query(None, max_length=64, description="From this time (ISO-8601, inclusive) or age (2h, 7d)."),
    until: str | None = Query(None, max_length=64, description="Before this time (ISO-8601) or age (2h, 7d)."),
    search: str | None = Query(None, max_length=200, description="Text in repository names, actors, messages."),
    principal: Principal = Depends(current_principal),
) -> TimelineFilter:
    """The timeline filter of a request, always limited to the key's workspace; ``since``/``until`` take the
    CLI's forms (ISO-8601 or an age such as ``7d``)."""
    times = {}
    for name, value in (("since", since), ("until", until)):
        try:
            times[name] = parse_time(value) if value else None
        except TimelineError as error:
            raise ApiError(422, f"{name}: {error}") from None
    try:
        return TimelineFilter(
            types=tuple(type_),
            sources=tuple(source),
            repository=repository,
            workspace=principal.workspace_slug,
            actor=actor,
            statuses=tuple(status),
            since=times["since"],
            until=times["until"],
            search=search or None,
        )
    except TimelineError as error:
        raise ApiError(422, str(error)) from None


@router.get("")
def list_(
    filters: TimelineFilter = Depends(timeline_filter),
    limit: int = Query(50, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=200),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Who did what, when, and what it caused: activity and jobs, newest first, a page at a time."""
    try:
        with runtime.session() as session:
            return timeline_page(session, runtime.instance, filters, cursor=cursor, limit=limit).to_dict()
    except TimelineError as error:
        raise ApiError(422, str(error)) from None


@router.get("/export")
def export(
    format_: Literal["csv", "json"] = Query("json", alias="format"),
    filters: TimelineFilter = Depends(timeline_filter),
    runtime: Runtime = Depends(runtime_of),
) -> StreamingResponse:
    """Every matching entry, streamed (one entry in memory at a time); the same rows as the paged list."""

    def chunks() -> Iterator[bytes]:
        with runtime.session() as session:
            for chunk in export_chunks(iter_timeline(session, runtime.instance, filters), format_):
                yield chunk.encode()

    filename = f"activity.{format_}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(chunks(), media_type=MEDIA[format_], headers=headers)


@router.get("/stream")
def stream(
    filters: TimelineFilter = Depends(timeline_filter),
    interval: float = Query(1.0, ge=0.2, le=30.0, description="Seconds between polls of the timeline."),
    backlog: int = Query(
        0,
        ge=0,
        le=WINDOW,
        description="First send this many newest entries (oldest first): a client that rendered the list before "
        "it connected (or reconnects) gets what was written or changed in between; entries carry stable ids.",
    ),
    runtime: Runtime = Depends(runtime_of),
) -> StreamingResponse:
    """Server-Sent Events: each new or changed timeline entry as an ``activity`` event (JSON data)."""

    def events() -> Iterator[str]:
        yield "retry: 2000\n\n"
        stream = follow(runtime.session, runtime.instance, filters, backlog=backlog, interval=interval, heartbeats=True)
        for entry in stream:
            if entry is None:
                yield ": keep-alive\n\n"
                continue
            data = json.dumps(entry.to_dict(), ensure_ascii=False)
            yield f"event: activity\nid: {entry.kind}:{entry.id}\ndata: {data}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

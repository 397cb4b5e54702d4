"""Who a console request acts as: the signed-in key from the session cookie (pages redirect to sign-in)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from lightfast_pipeline.api.auth import runtime_of
from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.console import session as sessions
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime


@dataclass(frozen=True)
class Viewer:
    """The signed-in key and the CSRF token of its session."""

    principal: Principal
    csrf: str


async def viewer_or_none(request: Request, runtime: Runtime = Depends(runtime_of)) -> Viewer | None:
    """The session's viewer, or None without a valid session."""
    value = request.cookies.get(sessions.COOKIE)
    if not value or len(value) > 300:
        return None

    def lookup() -> tuple[Principal, str] | None:
        with runtime.session() as session:
            return sessions.resolve(session, value)

    found = await run_in_threadpool(lookup)
    return Viewer(*found) if found else None


def page_viewer(request: Request, viewer: Viewer | None = Depends(viewer_or_none)) -> Viewer:
    """Pages: the viewer, else a 303 to the sign-in page (coming back here afterwards)."""
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": f"/signin?next={quote(target, safe='')}"})
    return viewer


def reader(viewer: Viewer | None = Depends(viewer_or_none)) -> Viewer:
    """Console data endpoints (stream, export, fragments): the viewer, else 401."""
    if viewer is None:
        raise ApiError(401, "sign in to the console first")
    return viewer


def mutator(request: Request, viewer: Viewer = Depends(reader)) -> Viewer:
    """Console mutations: an admin key's session with its CSRF token in ``X-CSRF-Token`` (403 otherwise)."""
    if not sessions.csrf_ok(request, viewer.csrf):
        raise ApiError(403, "missing or wrong CSRF token: reload the page")
    if not viewer.principal.can_mutate:
        raise ApiError(403, "this API key has the read role; the request needs an admin key")
    return viewer

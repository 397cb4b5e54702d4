"""Console pages (GET, server-rendered): sign-in, activity, jobs, repositories, overview, search.

Every figure comes from the service API's own route functions, called with the signed-in key's principal, so
the console shows exactly what ``/v1`` answers for that key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from lightfast_pipeline.activity.timeline import STATUSES
from lightfast_pipeline.api.auth import runtime_of
from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.api.routers import activity as activity_api
from lightfast_pipeline.api.routers import github as github_api
from lightfast_pipeline.api.routers import jobs as jobs_api
from lightfast_pipeline.api.routers import repositories as repositories_api
from lightfast_pipeline.api.routers import search as search_api
from lightfast_pipeline.console import session as sessions
from lightfast_pipeline.console.auth import Viewer, page_viewer, viewer_or_none
from lightfast_pipeline.console.overview import overview_context
from lightfast_pipeline.console.render import page
from lightfast_pipeline.runtime import Runtime

router = APIRouter(include_in_schema=False)
ACTIVITY_TYPES = (
    "job",
    "run",
    "repository",
    "config",
    "reindex",
    "delivery",
    "installation",
    "store",
    "health",
    "api_key",
    "workspace",
)
JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
TRIGGERS = ("manual", "scheduled", "webhook", "automatic")
PAGE_SIZE = 50


def _safe_next(target: str | None) -> str:
    """Only a local path may follow sign-in (no open redirect)."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/activity"


@router.get("/")
def home() -> RedirectResponse:
    """The console opens on the activity timeline."""
    return RedirectResponse("/activity", status_code=303)


@router.get("/signin")
def signin_form(request: Request, next_: str | None = Query(None, alias="next", max_length=2000)) -> HTMLResponse:
    """The sign-in form: paste an API key."""
    return page(request, "signin.html", None, None, next=_safe_next(next_), error=None)


@router.post("/signin")
async def signin(
    request: Request,
    key: str = Form("", max_length=500),
    next_: str = Form("/activity", alias="next", max_length=2000),
    runtime: Runtime = Depends(runtime_of),
) -> Response:
    """Check the key and set the session cookie (HttpOnly, SameSite=Strict; Secure over HTTPS)."""

    def check() -> tuple[Any, str] | None:
        with runtime.session() as session:
            return sessions.sign_in(session, key)

    found = await run_in_threadpool(check) if key.strip() else None
    if found is None:
        return page(
            request,
            "signin.html",
            None,
            None,
            status_code=401,
            next=_safe_next(next_),
            error="That key is unknown or revoked.",
        )
    response = RedirectResponse(_safe_next(next_), status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        found[1],
        max_age=sessions.LIFETIME,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/signout")
def signout(viewer: Viewer | None = Depends(viewer_or_none)) -> RedirectResponse:
    """Forget the session cookie (a cookie alone cannot sign anybody out elsewhere: revoke the key for that)."""
    del viewer
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _activity_filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    return {
        "type": [value for value in params.getlist("type") if value][:20],
        "source": [value for value in params.getlist("source") if value][:5],
        "status": [value for value in params.getlist("status") if value][:5],
        "q": (params.get("q") or "").strip()[:200],
    }


def activity_query(chosen: dict[str, Any]) -> str:
    """The filters as a query string (for the stream, the export and the 'older' link)."""
    pairs = [(name, value) for name in ("type", "source", "status") for value in chosen[name]]
    if chosen["q"]:
        pairs.append(("q", chosen["q"]))
    return urlencode(pairs)


def timeline_filter_of(viewer: Viewer, chosen: dict[str, Any]) -> Any:
    """The API's timeline filter for the console's filter choices (ApiError 422 when one is invalid)."""
    return activity_api.timeline_filter(
        type_=chosen["type"],
        source=chosen["source"],
        repository=None,
        actor=None,
        status=chosen["status"],
        since=None,
        until=None,
        search=chosen["q"] or None,
        principal=viewer.principal,
    )


@router.get("/activity")
def activity(
    request: Request,
    cursor: str | None = Query(None, max_length=200),
    viewer: Viewer = Depends(page_viewer),
    runtime: Runtime = Depends(runtime_of),
) -> HTMLResponse:
    """The timeline: filters, search, rows newest first, 'older' by cursor, live rows, export."""
    chosen = _activity_filters(request)
    query = activity_query(chosen)
    context: dict[str, Any] = {
        "chosen": chosen,
        "query": query,
        "cursor": cursor,
        "types": ACTIVITY_TYPES,
        "statuses": STATUSES,
        "sources": ("github", "local"),
        "error": None,
        "rows": [],
        "next_cursor": None,
    }
    try:
        filters = timeline_filter_of(viewer, chosen)
        result = activity_api.list_(filters=filters, limit=PAGE_SIZE, cursor=cursor, runtime=runtime)
        context.update(rows=result["activity"], next_cursor=result["next_cursor"] if result["has_more"] else None)
    except ApiError as error:
        context["error"] = error.message
    return page(
        request,
        "activity.html",
        viewer.principal,
        viewer.csrf,
        status_code=422 if context["error"] else 200,
        active="activity",
        **context,
    )


@router.get("/jobs")
def jobs(
    request: Request,
    status: str | None = Query(None, max_length=20),
    repository: str | None = Query(None, max_length=64),
    trigger: str | None = Query(None, max_length=20),
    cursor: str | None = Query(None, max_length=64, pattern=r"^[A-Za-z0-9-]+$"),
    viewer: Viewer = Depends(page_viewer),
    runtime: Runtime = Depends(runtime_of),
) -> HTMLResponse:
    """Jobs with status/repository/trigger filters, recent jobs and statistics on top, cancel buttons."""
    principal = viewer.principal
    status = status if status in JOB_STATUSES else None
    trigger = trigger if trigger in TRIGGERS else None
    context: dict[str, Any] = {"error": None, "jobs": [], "next_cursor": None}
    try:
        listed = jobs_api.list_(
            status=status,
            repository=repository or None,
            trigger=trigger,
            limit=PAGE_SIZE,
            cursor=cursor,
            principal=principal,
            runtime=runtime,
        )
        context.update(jobs=listed["jobs"], next_cursor=listed["next_cursor"] if listed["has_more"] else None)
    except ApiError as error:
        context["error"] = error.message
    stats = jobs_api.stats(hours=24.0, principal=principal, runtime=runtime)
    recent = jobs_api.recent(limit=5, principal=principal, runtime=runtime)["jobs"]
    repositories = repositories_api.list_(active=None, principal=principal, runtime=runtime)["repositories"]
    chosen = {"status": status, "repository": repository or "", "trigger": trigger}
    more = urlencode({key: value for key, value in chosen.items() if value})
    return page(
        request,
        "jobs.html",
        principal,
        viewer.csrf,
        active="jobs",
        stats=stats,
        recent=recent,
        names={row["uid"]: row["name"] for row in repositories},
        repositories=repositories,
        chosen=chosen,
        more=more,
        statuses=JOB_STATUSES,
        triggers=TRIGGERS,
        **context,
    )


@router.get("/repositories")
def repositories(
    request: Request,
    installation: str | None = Query(None, max_length=20, pattern=r"^[0-9]+$"),
    viewer: Viewer = Depends(page_viewer),
    runtime: Runtime = Depends(runtime_of),
) -> HTMLResponse:
    """Connected repositories with config status, sync times, documents; detect/reindex; connect."""
    principal = viewer.principal
    rows = repositories_api.list_(active=True, principal=principal, runtime=runtime)["repositories"]
    recent = jobs_api.recent(limit=5, principal=principal, runtime=runtime)["jobs"]
    installations: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    github_error = None
    try:
        installations = github_api.list_(principal=principal, runtime=runtime)["installations"]
        if installation:
            candidates = github_api.repositories(installation_id=installation, principal=principal, runtime=runtime)[
                "repositories"
            ]
    except ApiError as error:
        github_error = error.message
    allow_local = bool(request.app.state.config.allow_local)
    return page(
        request,
        "repositories.html",
        principal,
        viewer.csrf,
        active="repositories",
        rows=rows,
        recent=recent,
        names={row["uid"]: row["name"] for row in rows},
        installations=installations,
        installation=installation,
        candidates=candidates,
        github_error=github_error,
        allow_local=allow_local,
    )


@router.get("/overview")
def overview(
    request: Request,
    range_: str = Query("24h", alias="range", max_length=10),
    viewer: Viewer = Depends(page_viewer),
    runtime: Runtime = Depends(runtime_of),
) -> HTMLResponse:
    """Statistics with the period comparison, percentiles, hourly charts, time to searchable, health."""
    range_ = range_ if range_ in ("24h", "7d", "30d") else "24h"
    nonce = request.scope.get("state", {}).get("csp_nonce")
    context = overview_context(runtime, viewer.principal, range_, nonce)
    return page(request, "overview.html", viewer.principal, viewer.csrf, active="overview", range=range_, **context)


@router.get("/search")
def search(
    request: Request,
    q: str = Query("", max_length=2000),
    top_k: int = Query(10, ge=1, le=100),
    viewer: Viewer = Depends(page_viewer),
    runtime: Runtime = Depends(runtime_of),
) -> HTMLResponse:
    """A query box over the workspace: path, title, heading, snippet, score and the latency."""
    result: dict[str, Any] | None = None
    error = None
    if q.strip():
        try:
            body = search_api.SearchBody(query=q.strip(), top_k=top_k)
            result = search_api.search_documents(
                body=body, response=Response(), principal=viewer.principal, runtime=runtime
            )
        except ApiError as failure:
            error = failure.message
    return page(request, "search.html", viewer.principal, viewer.csrf, active="search", q=q, result=result, error=error)

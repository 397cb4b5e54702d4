"""Jinja2 rendering of console pages: the environment, its filters, and the page frame's context."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.settings import load_notify_settings

TEMPLATES = Path(__file__).parent / "templates"
NAV = (
    ("activity", "Activity"),
    ("jobs", "Jobs"),
    ("repositories", "Repositories"),
    ("overview", "Overview"),
    ("search", "Search"),
)


def parse_time(value: str | datetime | None) -> datetime | None:
    """A datetime from an ISO-8601 text (``Z`` or offset) or a datetime; UTC when naive."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ago(value: str | datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago' (the console's relative time)."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 45:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def absolute(value: str | datetime | None) -> str:
    """'2026-11-30 02:15:07 UTC'."""
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def duration(ms: float | int | None) -> str:
    """'850 ms', '12.3 s', '4 min 5 s'."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


def _environment() -> Environment:
    # The templates ship in the package: no need to stat each one on every render (auto_reload).
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False)
    env.filters.update(ago=ago, absolute=absolute, duration=duration, tojson_pretty=_pretty)
    env.globals["nav"] = NAV
    return env


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


ENV = _environment()


def run_links() -> Callable[[str | None], str | None]:
    """A function giving a run's page in the Dagster UI (``LIGHTFAST_DAGSTER_UI_URL``, read once per render)."""
    base = load_notify_settings().dagster_ui_url
    return lambda run_id: f"{base}/runs/{run_id}" if run_id else None


def render_fragment(template: str, **context: Any) -> str:
    """A template rendered alone (a row for the event stream, a detail panel)."""
    return ENV.get_template(template).render(dagster_url=run_links(), **context)


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    csrf: str | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page: the frame (navigation, who is signed in, the CSRF token) around ``template``."""
    nonce = request.scope.get("state", {}).get("csp_nonce")
    html = ENV.get_template(template).render(
        request=request,
        principal=principal,
        csrf=csrf,
        can_mutate=bool(principal and principal.can_mutate),
        dagster_url=run_links(),
        nonce=nonce,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})

"""Failure notifications: a Slack-compatible message per run failure or health transition, sent once.

Each notification is a ``notifications_sent`` row keyed by what it is about (``run.failed:<run id>``,
``health.changed:<activity id>``), queued in the transaction that records the activity row; the message is
rebuilt from that row when it is sent. Delivery claims a row (``pending`` -> ``sending``) before posting, so
two deliverers never post the same key; a claim older than :data:`STALE_CLAIM` (a crashed deliverer) is
taken over. Connection errors, 429 and 5xx are retried with backoff, then left ``pending`` for the next
pass; other 4xx answers and :data:`MAX_ATTEMPTS` attempts end as ``failed``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from dagster import DagsterRun
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import ActivityEvent, NotificationSent, Repository, Workspace, utcnow
from lightfast_pipeline.settings import NotifySettings

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ATTEMPTS = 20
STALE_CLAIM = timedelta(minutes=5)
RUN_FAILED_KEY = "run.failed:"
HEALTH_KEY = "health.changed:"

OpenSession = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class PostResult:
    """Outcome of posting one message: ``ok``, or whether trying again later can help."""

    ok: bool
    attempts: int
    retryable: bool
    detail: str


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    pending: int = 0


def post_message(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PostResult:
    """POST ``payload`` as JSON, retrying connection errors, 429 (``Retry-After``, capped) and 5xx."""
    detail = ""
    for attempt in range(1, attempts + 1):
        wait = backoff * 2 ** (attempt - 1)
        try:
            response = requests.post(url, json=payload, timeout=timeout)
        except requests.RequestException as error:
            detail = f"{type(error).__name__}"  # the URL carries a token: never in logs or errors
        else:
            if response.status_code < 300:
                return PostResult(True, attempt, False, f"HTTP {response.status_code}")
            detail = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code != 429 and response.status_code < 500:
                return PostResult(False, attempt, False, detail)
            if response.status_code == 429:
                wait = min(_seconds(response.headers.get("Retry-After"), wait), 30.0)
        if attempt < attempts:
            sleep(wait)
    return PostResult(False, attempts, True, detail)


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def queue_notification(session: Session, key: str) -> bool:
    """Queue the notification ``key`` unless it exists already; True when queued now."""
    if session.get(NotificationSent, key) is not None:
        return False
    session.add(NotificationSent(key=key, status=PENDING, attempts=0, sent_at=utcnow()))
    return True


def record_run_failure(open_session: OpenSession, settings: NotifySettings, run: DagsterRun, error: str | None) -> int:
    """Record one ``run.failed`` row for ``run`` (none if it exists) and queue its notification.

    Returns the activity row id. Safe to call again for the same run: nothing is added twice.
    """
    run_tags = run.tags
    try:
        with open_session() as session:
            existing = _run_failure_id(session, run.run_id)
            if existing is not None:
                return existing
            uid = run_tags.get(tags.REPOSITORY)
            repository = session.scalar(select(Repository).where(Repository.uid == uid)) if uid else None
            slug = run_tags.get(tags.WORKSPACE)
            workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == slug)) if slug else None
            event = record_activity(
                session,
                action=actions.RUN_FAILED,
                entity_type="run",
                entity_id=run.run_id,
                workspace_id=workspace_id,
                repository=repository,
                status="failure",
                reason=run_tags.get(tags.TRIGGER),
                message=error or "run failed",
                impact={"errors": 1},
                after={"job": run.job_name, "status": "failure"},
                run_id=run.run_id,
                delivery_id=run_tags.get(tags.DELIVERY),
            )
            if repository is None:
                event.repository_name = run_tags.get(tags.REPOSITORY_NAME)
            if settings.webhook_url:
                queue_notification(session, RUN_FAILED_KEY + run.run_id)
            session.flush()
            return event.id
    except IntegrityError:  # a concurrent caller queued the same run first
        with open_session() as session:
            existing = _run_failure_id(session, run.run_id)
        if existing is None:
            raise
        return existing


def _run_failure_id(session: Session, run_id: str) -> int | None:
    return session.scalar(
        select(ActivityEvent.id).where(ActivityEvent.action == actions.RUN_FAILED, ActivityEvent.run_id == run_id)
    )


def deliver_pending(
    open_session: OpenSession,
    settings: NotifySettings,
    *,
    limit: int = 20,
    attempts: int = 3,
    backoff: float = 0.5,
) -> DeliveryReport:
    """Send queued notifications, oldest first; stop at the first one the receiver cannot take now."""
    if not settings.webhook_url:
        return DeliveryReport()
    sent = failed = 0
    with open_session() as session:
        keys = session.scalars(
            select(NotificationSent.key)
            .where(_claimable())
            .order_by(NotificationSent.sent_at, NotificationSent.key)
            .limit(limit)
        ).all()
    for key in keys:
        with open_session() as session:
            claimed = session.execute(
                update(NotificationSent)
                .where(NotificationSent.key == key, _claimable())
                .values(status=SENDING, sent_at=utcnow())
            ).rowcount
            payload = build_message(session, key, settings.dagster_ui_url) if claimed else None
            if claimed and payload is None:
                _finish(session, key, FAILED, 0)
                failed += 1
                log.warning("notification %s dropped: its activity row is gone", key)
        if payload is None:
            continue
        result = post_message(settings.webhook_url, payload, attempts=attempts, backoff=backoff)
        with open_session() as session:
            row = session.get(NotificationSent, key)
            total = (row.attempts if row else 0) + result.attempts
            status = SENT if result.ok else PENDING if result.retryable and total < MAX_ATTEMPTS else FAILED
            _finish(session, key, status, total)
        if result.ok:
            sent += 1
            continue
        log.warning("notification %s not delivered (%s); %s", key, result.detail, status)
        if status == FAILED:
            failed += 1
        else:
            break  # the receiver is down or throttling: keep the rest for the next pass
    with open_session() as session:
        pending = len(session.scalars(select(NotificationSent.key).where(_claimable())).all())
    return DeliveryReport(sent=sent, failed=failed, pending=pending)


def _claimable() -> Any:
    stale = utcnow() - STALE_CLAIM
    return or_(
        NotificationSent.status == PENDING,
        (NotificationSent.status == SENDING) & (NotificationSent.sent_at < stale),
    )


def _finish(session: Session, key: str, status: str, attempts: int) -> None:
    session.execute(
        update(NotificationSent)
        .where(NotificationSent.key == key)
        .values(status=status, attempts=attempts, sent_at=utcnow())
    )


def build_message(session: Session, key: str, ui_url: str) -> dict[str, Any] | None:
    """The Slack message of notification ``key`` (``None`` when its activity row no longer exists)."""
    if key.startswith(RUN_FAILED_KEY):
        event = session.scalar(
            select(ActivityEvent).where(
                ActivityEvent.action == actions.RUN_FAILED,
                ActivityEvent.run_id == key.removeprefix(RUN_FAILED_KEY),
            )
        )
        return run_failure_message(event, ui_url) if event else None
    if key.startswith(HEALTH_KEY):
        event = session.get(ActivityEvent, int(key.removeprefix(HEALTH_KEY)))
        return health_message(event, ui_url) if event else None
    return None


# Block Kit limits (Slack refuses the whole message when one is broken): characters of a header's plain text,
# of a section's text and of each of its fields.
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
CUT = "…"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_within(text: str, limit: int) -> str:
    """``text`` escaped for mrkdwn in at most ``limit`` characters, cut with ``…`` (never inside an entity)."""
    escaped = _escape(text)
    if len(escaped) <= limit:
        return escaped
    kept, size = [], len(CUT)
    for char in text:
        piece = _escape(char)
        if size + len(piece) > limit:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + CUT


def _plain_within(text: str, limit: int) -> str:
    """Plain text in at most ``limit`` characters, cut with ``…``."""
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


def _field(title: str, value: str) -> dict[str, str]:
    prefix = f"*{title}*\n"
    return {"type": "mrkdwn", "text": prefix + _escaped_within(value, FIELD_TEXT_MAX - len(prefix))}


def _button(label: str, url: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}],
    }


def _code_block(title: str, text: str) -> str:
    """A section's text: the title, then ``text`` as preformatted text, within the section limit."""
    prefix, fence = f"*{title}*\n```", "```"
    return prefix + _escaped_within(text, SECTION_TEXT_MAX - len(prefix) - len(fence)) + fence


def run_failure_message(event: ActivityEvent, ui_url: str) -> dict[str, Any]:
    """``text`` plus blocks: repository, job, error and a button to the run in the Dagster UI."""
    job = (event.after or {}).get("job") or "unknown job"
    repository = event.repository_name or "-"
    error = (event.message or "run failed").strip()
    link = f"{ui_url}/runs/{event.run_id}"
    first_line = error.splitlines()[0][:200] if error else ""
    return {
        "text": f"Run failed: {job} for {repository}: {first_line} ({link})",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _plain_within(f"Run failed: {job}", HEADER_TEXT_MAX)},
            },
            {
                "type": "section",
                "fields": [
                    _field("Repository", repository),
                    _field("Job", job),
                    {"type": "mrkdwn", "text": f"*Run*\n<{link}|{event.run_id}>"},
                    _field("Trigger", event.reason or "-"),
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _code_block("Error", error)},
            },
            _button("Open run in Dagster", link),
        ],
    }


def health_message(event: ActivityEvent, ui_url: str) -> dict[str, Any]:
    """``text`` plus blocks: what changed level (scope, repository), from and to, and a link to Dagster."""
    before = (event.before or {}).get("level", "?")
    after = (event.after or {}).get("level", "?")
    name = event.entity_id or event.entity_type
    verb = "recovered" if after == "healthy" else "is " + after
    return {
        "text": f"Health: {event.entity_type} {name} {verb} ({before} → {after})",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _plain_within(f"{name} {verb}", HEADER_TEXT_MAX)},
            },
            {
                "type": "section",
                "fields": [
                    _field("Scope", event.entity_type),
                    _field("Repository", event.repository_name or "-"),
                    _field("Change", f"{before} → {after}"),
                    _field("Why", event.reason or event.message or "-"),
                ],
            },
            _button("Open Dagster", ui_url + "/"),
        ],
    }

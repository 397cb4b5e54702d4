"""The activity timeline: the activity log and Dagster's run history read as one newest-first stream.

Order and cursor
    Entries are ordered by the key ``(at, kind, id)``, newest first; at the same instant ``run`` entries come
    before ``activity`` entries, and ids break the remaining ties (activity id, run id). A cursor is that
    key of the last entry of a page (opaque base64 text), so pages never skip or repeat rows that share a
    timestamp, and rows added after the first page appear on top instead of shifting later pages.

Jobs appear once
    A run is listed from the instance (action ``job.run``, entity ``run``) at its creation time, with its
    live status, as long as no activity row says how it ended. Once a ``run.failed`` or ``job.cancelled``
    row exists for it (:data:`~lightfast_pipeline.activity.actions.RUN_OUTCOMES`), that row represents the
    job and the run history entry is left out; other rows that merely link a run (a delivery, a reindex
    request) are separate actions and are listed beside it.

Bounded work
    Activity rows come from one keyset query per batch (index ``ix_activity_at_id``). Their text search is
    ``ILIKE`` on four columns or ``repository_id IN`` the repositories whose name contains the text (read once):
    on PostgreSQL every branch has an index (migration 0006: trigram GIN indexes), so a word few rows contain
    reads only those rows. SQLite reads the activity rows newest first until the page is full, restricted to the
    candidates of its FTS5 trigram table (migration 0008, :mod:`~lightfast_pipeline.activity.search`) when the
    text has a trigram and is rare enough for reading the candidates by id to be cheaper. Runs come from
    :mod:`~lightfast_pipeline.activity.run_history`: one keyset query per batch over the run storage's
    creation-time index with every filter in SQL (workspace, repository, user and ``system`` actor, statuses,
    creation time, text search), plus one ``IN`` query per batch for the runs' tags, one for outcome rows and
    one for the repositories shown. Started runs on a page whose process died are failed first (instances
    without run monitoring). The text search is matched again in Python on the built entries (exactly what a
    row shows), never used to scan runs.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus
from sqlalchemy import Select, and_, false, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.run_history import RunQuery, RunRow, newest_runs, resolve_search
from lightfast_pipeline.activity.search import candidates
from lightfast_pipeline.catalog.models import ActivityEvent, Repository, SourceType, Workspace
from lightfast_pipeline.runs.liveness import fail_dead_runs

KIND_ACTIVITY = "activity"
KIND_RUN = "run"
STATUSES = ("success", "failure", "in_progress", "skipped", "cancelled")
COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "workspace",
    "source",
    "repository",
    "status",
    "reason",
    "impact",
    "run_id",
    "delivery_id",
)
MAX_LIMIT = 1000
_RUN_STATUS = {
    DagsterRunStatus.QUEUED: "in_progress",
    DagsterRunStatus.NOT_STARTED: "in_progress",
    DagsterRunStatus.STARTING: "in_progress",
    DagsterRunStatus.STARTED: "in_progress",
    DagsterRunStatus.CANCELING: "in_progress",
    DagsterRunStatus.SUCCESS: "success",
    DagsterRunStatus.FAILURE: "failure",
    DagsterRunStatus.CANCELED: "cancelled",
}
_TYPE_PATTERN = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")
MAX_SEARCH_CHARACTERS = 200  # a repository or user name; longer patterns only cost the database

Key = tuple[datetime, str, int | str]


class TimelineError(ValueError):
    """A bad timeline request (unknown filter value, malformed cursor, limit out of range)."""


@dataclass(frozen=True)
class TimelineFilter:
    """What to show; empty fields do not filter. ``since`` is inclusive, ``until`` exclusive."""

    types: tuple[str, ...] = ()  # action ("repository.connected") or its prefix ("repository")
    sources: tuple[str, ...] = ()
    repository: str | None = None  # full name or catalog uid
    workspace: str | None = None  # slug
    actor: str | None = None
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        for value in self.types:
            if not _TYPE_PATTERN.match(value):
                raise TimelineError(f"invalid type {value!r}: expected an action or prefix ('repository')")
        known_sources = {source.value for source in SourceType}
        for value in self.sources:
            if value not in known_sources:
                expected = ", ".join(sorted(known_sources))
                raise TimelineError(f"unknown source {value!r}; expected one of {expected}")
        for value in self.statuses:
            if value not in STATUSES:
                raise TimelineError(f"unknown status {value!r}; expected one of {', '.join(STATUSES)}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value))
        if self.since and self.until and self.since >= self.until:
            raise TimelineError("'since' must be earlier than 'until'")
        if self.search is not None and len(self.search) > MAX_SEARCH_CHARACTERS:
            raise TimelineError(f"search text is longer than {MAX_SEARCH_CHARACTERS} characters")

    def includes_runs(self) -> bool:
        """True when run history entries (action ``job.run``) can match."""
        return not self.types or any(_type_matches(value, actions.JOB_RUN) for value in self.types)


@dataclass(frozen=True)
class Entry:
    """One timeline row: an activity row or a run."""

    kind: str
    id: int | str
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    workspace: str | None
    source: str | None
    repository: str | None
    status: str
    reason: str | None
    message: str | None
    impact: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    delivery_id: str | None = None

    @property
    def key(self) -> Key:
        """Sort and cursor key ``(at, kind, id)``."""
        return (self.at, self.kind, self.id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one activity entry (``reason`` carries the reason, then the message)."""
        return {
            "id": self.id,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "workspace": self.workspace,
            "source": self.source,
            "repository": self.repository,
            "status": self.status,
            "reason": " — ".join(part for part in (self.reason, self.message) if part) or None,
            "impact": self.impact,
            "run_id": self.run_id,
            "delivery_id": self.delivery_id,
        }


@dataclass(frozen=True)
class TimelinePage:
    """One page of the timeline, newest first."""

    entries: list[Entry]
    next_cursor: str | None
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``lightfast activity --json``."""
        return {
            "activity": [entry.to_dict() for entry in self.entries],
            "next_cursor": self.next_cursor,
            "has_more": self.has_more,
        }


def iso(value: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_cursor(key: Key) -> str:
    """Opaque cursor text for the key of the last entry of a page."""
    at, kind, ident = key
    raw = json.dumps([iso(at), kind, ident], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Key:
    """The key inside a cursor made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at_text, kind, ident = json.loads(raw)
        at = _utc(datetime.fromisoformat(at_text))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise TimelineError(f"invalid cursor {text!r}: use next_cursor from a previous page") from exc
    if (kind, type(ident)) not in ((KIND_ACTIVITY, int), (KIND_RUN, str)):
        raise TimelineError(f"invalid cursor {text!r}: use next_cursor from a previous page")
    return (at, kind, ident)


def timeline_page(
    session: Session,
    instance: DagsterInstance,
    filters: TimelineFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> TimelinePage:
    """One page of at most ``limit`` entries after ``cursor`` (``None``: the newest)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise TimelineError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    before = decode_cursor(cursor) if cursor else None
    stream = _entries(session, instance, filters or TimelineFilter(), before, limit + 1)
    entries = list(islice(stream, limit + 1))
    has_more = len(entries) > limit
    entries = entries[:limit]
    return TimelinePage(entries, encode_cursor(entries[-1].key) if has_more else None, has_more)


def iter_timeline(
    session: Session,
    instance: DagsterInstance,
    filters: TimelineFilter | None = None,
    *,
    batch_size: int = 1000,
) -> Iterator[Entry]:
    """Every matching entry, newest first, read in keyset batches (memory bounded by ``batch_size``)."""
    return _entries(session, instance, filters or TimelineFilter(), None, batch_size)


def _entries(
    session: Session, instance: DagsterInstance, filters: TimelineFilter, before: Key | None, batch: int
) -> Iterator[Entry]:
    plan = _Plan.build(session, filters)
    streams = [_activity_entries(session, plan, before, batch)]
    if plan.runs is not None:
        streams.append(_run_entries(session, instance, plan, before, batch))
    return heapq.merge(*streams, key=lambda entry: entry.key, reverse=True)


@dataclass(frozen=True)
class _Plan:
    """Filters resolved against the catalog: SQL conditions for activity, a RunQuery for runs."""

    filters: TimelineFilter
    conditions: list[Any]
    runs: RunQuery | None  # None: no run can match

    @classmethod
    def build(cls, session: Session, filters: TimelineFilter) -> _Plan:
        a = ActivityEvent
        conditions: list[Any] = []
        run_tags: dict[str, str | Sequence[str]] = {}
        search_uids: frozenset[str] = frozenset()
        runs_possible = filters.includes_runs()
        if filters.types:
            conditions.append(or_(*(_type_condition(value) for value in filters.types)))
        if filters.statuses:
            conditions.append(a.status.in_(filters.statuses))
        if filters.actor is not None:
            conditions.append(a.actor == filters.actor)
            if filters.actor != "system":
                run_tags[tags.USER] = filters.actor
        if filters.since is not None:
            conditions.append(a.at >= filters.since)
        if filters.until is not None:
            conditions.append(a.at < filters.until)
        if filters.workspace is not None:
            workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == filters.workspace))
            conditions.append(a.workspace_id == workspace_id if workspace_id is not None else false())
            run_tags[tags.WORKSPACE] = filters.workspace
        if filters.sources:
            conditions.append(a.source_type.in_(filters.sources))
        repository_uids = _repository_uids(session, filters)
        if filters.repository is not None:
            ids = select(Repository.id).where(Repository.uid.in_(repository_uids or set()))
            name = filters.repository.lower()
            conditions.append(or_(a.repository_id.in_(ids), func.lower(a.repository_name) == name))
        if repository_uids is not None:
            run_tags[tags.REPOSITORY] = sorted(repository_uids)
            runs_possible = runs_possible and bool(repository_uids)
        if filters.search:
            text = filters.search
            named = session.execute(
                select(Repository.id, Repository.uid).where(Repository.full_name.icontains(text, autoescape=True))
            ).all()
            if runs_possible:
                search_uids = frozenset(uid for _, uid in named)
            searched = (a.repository_name, a.actor, a.reason, a.message)  # ILIKE on PostgreSQL: trigram indexes
            text_match = or_(*(column.icontains(text, autoescape=True) for column in searched))
            fts = candidates(session, text)  # SQLite's trigram index (None: read the rows in order)
            matches = [text_match if fts is None else and_(a.id.in_(fts), text_match)]
            if named:  # rows of those repositories, the ones that hold an older name included
                matches.append(a.repository_id.in_(sorted(ident for ident, _ in named)))
            conditions.append(or_(*matches))
        statuses = [status for status, mapped in _RUN_STATUS.items() if mapped in filters.statuses]
        runs_possible = runs_possible and (bool(statuses) or not filters.statuses)
        runs = (
            RunQuery(
                tags=run_tags,
                statuses=statuses,
                since=filters.since,
                until=filters.until,
                system_actor=filters.actor == "system",
                search=filters.search,
                search_uids=search_uids,
            )
            if runs_possible
            else None
        )
        return cls(filters, conditions, runs)


def _type_matches(value: str, action: str) -> bool:
    return action == value if "." in value else action.startswith(value + ".")


def _type_condition(value: str) -> Any:
    column = ActivityEvent.action
    return column == value if "." in value else column.like(value + ".%")


def _repository_uids(session: Session, filters: TimelineFilter) -> set[str] | None:
    """Catalog uids the run stream is restricted to (``None``: no restriction)."""
    if filters.repository is None and not filters.sources:
        return None
    query = select(Repository.uid)
    if filters.repository is not None:
        value = filters.repository
        query = query.where(or_(Repository.uid == value, func.lower(Repository.full_name) == value.lower()))
    if filters.sources:
        query = query.where(Repository.source_type.in_(filters.sources))
    return set(session.scalars(query))


def _activity_query(plan: _Plan, before: Key | None, limit: int) -> Select[Any]:
    a = ActivityEvent
    query = (
        select(
            a.id,
            a.at,
            a.actor,
            a.action,
            a.entity_type,
            a.entity_id,
            Workspace.slug,
            a.source_type,
            a.repository_name,
            a.status,
            a.reason,
            a.message,
            a.impact,
            a.run_id,
            a.delivery_id,
        )
        .outerjoin(Workspace, Workspace.id == a.workspace_id)
        .where(*plan.conditions)
    )
    if before is not None:
        at, kind, ident = before
        if kind == KIND_ACTIVITY:
            cursor = tuple_(literal(at, a.at.type), literal(ident, a.id.type))
            query = query.where(tuple_(a.at, a.id) < cursor)
        else:  # runs sort before activity at the same instant
            query = query.where(a.at <= at)
    return query.order_by(a.at.desc(), a.id.desc()).limit(limit)


def _activity_entries(session: Session, plan: _Plan, before: Key | None, batch: int) -> Iterator[Entry]:
    bound = before
    while True:
        rows = session.execute(_activity_query(plan, bound, batch)).all()
        for row in rows:
            yield Entry(
                kind=KIND_ACTIVITY,
                id=row.id,
                at=_utc(row.at),  # SQLite returns the stored UTC time without its zone
                actor=row.actor,
                action=row.action,
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                workspace=row.slug,
                source=row.source_type,
                repository=row.repository_name,
                status=row.status,
                reason=row.reason,
                message=row.message,
                impact=row.impact or {},
                run_id=row.run_id,
                delivery_id=row.delivery_id,
            )
        if len(rows) < batch:
            return
        bound = (rows[-1].at, KIND_ACTIVITY, rows[-1].id)


def _run_entries(
    session: Session, instance: DagsterInstance, plan: _Plan, before: Key | None, batch: int
) -> Iterator[Entry]:
    """Runs newest first, one keyset query per batch."""
    assert plan.runs is not None
    storage = instance.run_storage
    query = resolve_search(storage, plan.runs)
    bound = None if before is None else (before[0], before[2] if before[1] == KIND_RUN else None)
    while True:
        rows = newest_runs(storage, query, bound, batch)
        dead = fail_dead_runs(instance, [row.run_id for row in rows if row.status == DagsterRunStatus.STARTED])
        if dead:  # read the batch again with the failure Dagster just recorded
            rows = newest_runs(storage, query, bound, batch)
        yield from _run_batch(session, plan, rows)
        if len(rows) < batch:
            return
        bound = (rows[-1].created, rows[-1].run_id)


def _run_batch(session: Session, plan: _Plan, rows: list[RunRow]) -> list[Entry]:
    ended = set(
        session.scalars(
            select(ActivityEvent.run_id).where(
                ActivityEvent.run_id.in_([row.run_id for row in rows]), ActivityEvent.action.in_(actions.RUN_OUTCOMES)
            )
        )
    )
    uids = {row.tags.get(tags.REPOSITORY) for row in rows} - {None}
    repositories = {
        repository.uid: repository for repository in session.scalars(select(Repository).where(Repository.uid.in_(uids)))
    }
    entries = (_run_entry(row, repositories.get(row.tags.get(tags.REPOSITORY, ""))) for row in rows)
    return [entry for entry in entries if entry.id not in ended and _run_matches(plan, entry)]


def _run_entry(row: RunRow, repository: Repository | None) -> Entry:
    run_tags = row.tags
    trigger = run_tags.get(tags.TRIGGER)
    impact: dict[str, Any] = {}
    if row.start_time is not None and row.end_time is not None:
        impact["duration_ms"] = max(0, round((row.end_time - row.start_time) * 1000))
    return Entry(
        kind=KIND_RUN,
        id=row.run_id,
        at=row.created,
        actor=run_tags.get(tags.USER) or "system",
        action=actions.JOB_RUN,
        entity_type="run",
        entity_id=row.run_id,
        workspace=run_tags.get(tags.WORKSPACE),
        source=repository.source_type if repository else None,
        repository=repository.full_name if repository else run_tags.get(tags.REPOSITORY_NAME),
        status=_RUN_STATUS[row.status],
        reason=f"{row.job_name} ({trigger})" if trigger else row.job_name,
        message=None,
        impact=impact,
        run_id=row.run_id,
        delivery_id=run_tags.get(tags.DELIVERY),
    )


def _run_matches(plan: _Plan, entry: Entry) -> bool:
    """The text search on what the row shows (SQL selected a superset: a renamed repository's old name)."""
    filters = plan.filters
    if filters.search:
        text = filters.search.lower()
        haystack = (entry.repository, entry.actor, entry.reason)
        return any(text in value.lower() for value in haystack if value)
    return True


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

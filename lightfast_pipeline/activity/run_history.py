"""Dagster's run history read newest first by creation time, a page at a time, with the filters in SQL.

``DagsterInstance.get_run_records(order_by="create_timestamp")`` sorts every matching run on each call: the run
storage has no index on the creation time, so one timeline page over 100,000 runs cost a scan of the whole
``runs`` table and a sort (~180 ms of PostgreSQL's time at a light load, > 500 ms under load). This module reads the
run storage's own tables (``runs``, ``run_tags``; the public schema of Dagster's SQL run storages, SQLite and
PostgreSQL) instead:

- the index ``lightfast_runs_by_created (create_timestamp, run_id, …)`` (``runs/indexes.py``, created by
  ``Runtime.instance``) lets a page walk the newest runs and stop after ``limit`` rows; the keyset
  ``(create_timestamp, run_id)`` continues a page;
- tag filters are ``EXISTS`` subqueries on ``run_tags`` (index ``idx_run_tags_run_idx``), probed only for the
  runs the walk visits;
- a text search first reads the distinct users, repository names, triggers and job names (one index probe per
  distinct value) and keeps those containing the text; the run query then looks runs up by those values (and
  by the uids of catalog repositories whose name matches that some run carries: one probe each), so a search
  never scans or filters every run for values no run holds;
- no run body is read or deserialised: the ``status`` column is the run's status (Dagster keeps it current) and
  the page's tags come from one ``IN`` query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dagster import DagsterRunStatus
from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
from sqlalchemy import exists, false, func, literal, not_, or_, select, text, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from lightfast_pipeline import tags

SHOWN_TAGS = (tags.WORKSPACE, tags.REPOSITORY, tags.REPOSITORY_NAME, tags.USER, tags.TRIGGER, tags.DELIVERY)
SEARCHED_TAGS = (tags.USER, tags.REPOSITORY_NAME, tags.TRIGGER)
JOB = "job"  # key of the job names in RunQuery.search_values
# The distinct values of one indexed column, one index probe per value (a "loose index scan"): reading the few
# distinct users, repository names, triggers and job names costs probes, not a scan of every run's tags.
_DISTINCT_TAG_VALUES = text("""
WITH RECURSIVE found(value) AS (
    SELECT MIN(value) FROM run_tags WHERE key = :key
    UNION ALL
    SELECT (SELECT MIN(value) FROM run_tags WHERE key = :key AND value > found.value)
    FROM found WHERE found.value IS NOT NULL
)
SELECT value FROM found WHERE value IS NOT NULL
""")
_DISTINCT_JOB_NAMES = text("""
WITH RECURSIVE found(value) AS (
    SELECT MIN(pipeline_name) FROM runs
    UNION ALL
    SELECT (SELECT MIN(pipeline_name) FROM runs WHERE pipeline_name > found.value)
    FROM found WHERE found.value IS NOT NULL
)
SELECT value FROM found WHERE value IS NOT NULL
""")
# Whether any run carries a repository uid (one probe of the run tags' (key, value) index).
_CARRIED = text(f"SELECT 1 FROM run_tags WHERE key = '{tags.REPOSITORY}' AND value = :value LIMIT 1")
MAX_PROBED_UIDS = 50  # a search naming more catalog repositories keeps them all, unprobed


@dataclass(frozen=True)
class RunQuery:
    """Which runs: exact tags (a value or any of several), statuses, a creation-time range, a text search.

    ``system_actor`` keeps only runs without a user tag. ``search`` matches, case-insensitively, the user tag,
    the repository name tag, ``"<job> (<trigger>)"``, or a repository uid in ``search_uids`` (the catalog's
    repositories whose name contains the text); it may match more runs than the timeline shows (a renamed
    repository's old name tag), never fewer.
    """

    tags: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    statuses: Sequence[DagsterRunStatus] = ()
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    system_actor: bool = False
    search: str | None = None
    search_uids: frozenset[str] = frozenset()
    search_values: Mapping[str, frozenset[str]] | None = None  # see resolve_search (None: not read yet)


@dataclass(frozen=True)
class RunRow:
    """What the timeline shows of one run."""

    run_id: str
    job_name: str
    status: DagsterRunStatus
    created: datetime  # UTC
    start_time: float | None
    end_time: float | None
    tags: dict[str, str]


def resolve_search(storage: SqlRunStorage, query: RunQuery) -> RunQuery:
    """``query`` with the job names and the user, repository name and trigger tag values that contain its
    search text (matched in Python, exactly as the row is), read as distinct values through the run storage's
    indexes: the run query then looks runs up by those values instead of scanning every run's tags.

    Of ``search_uids`` it keeps the uids some run carries (one index probe each, up to
    :data:`MAX_PROBED_UIDS`): a repository without runs would otherwise leave SQLite walking every run for
    matches that do not exist (PostgreSQL's planner looks the uid up first on its own).
    """
    if not query.search or query.search_values is not None:
        return query
    text_ = query.search.lower()
    values: dict[str, frozenset[str]] = {}
    uids = query.search_uids
    with storage.connect() as connection:
        for key in SEARCHED_TAGS:
            found = connection.execute(_DISTINCT_TAG_VALUES, {"key": key}).scalars()
            values[key] = frozenset(value for value in found if text_ in value.lower())
        found = connection.execute(_DISTINCT_JOB_NAMES).scalars()
        values[JOB] = frozenset(name for name in found if text_ in name.lower())
        if len(uids) <= MAX_PROBED_UIDS:
            uids = frozenset(uid for uid in uids if connection.execute(_CARRIED, {"value": uid}).first())
    return replace(query, search_values=values, search_uids=uids)


def newest_runs(
    storage: SqlRunStorage, query: RunQuery, before: tuple[datetime, str | None] | None, limit: int
) -> list[RunRow]:
    """At most ``limit`` runs matching ``query``, newest first by ``(created, run_id)``.

    ``before`` continues after a key: ``(created, run_id)`` excludes that run and every later one,
    ``(created, None)`` every run created at or after that instant.
    """
    runs = RunsTable.c
    selected = select(
        runs.run_id, runs.pipeline_name, runs.status, runs.create_timestamp, runs.start_time, runs.end_time
    )
    conditions = [_has_tag(key, value) for key, value in query.tags.items()]
    if query.statuses:
        conditions.append(_NoIndex(runs.status).in_([status.value for status in query.statuses]))
    if query.since is not None:
        conditions.append(runs.create_timestamp >= _naive(query.since))
    if query.until is not None:
        conditions.append(runs.create_timestamp < _naive(query.until))
    if query.system_actor:
        conditions.append(not_(_has_tag(tags.USER, None)))
    if query.search:
        conditions.append(_search_condition(resolve_search(storage, query)))
    if before is not None:
        at, run_id = _naive(before[0]), before[1]
        conditions.append(runs.create_timestamp <= at)  # the range the index walks
        if run_id is None:
            conditions.append(runs.create_timestamp < at)
        else:
            conditions.append(
                tuple_(runs.create_timestamp, runs.run_id)
                < tuple_(literal(at, runs.create_timestamp.type), literal(run_id))
            )
    ordered = selected.where(*conditions).order_by(runs.create_timestamp.desc(), runs.run_id.desc()).limit(limit)
    with storage.connect() as connection:
        rows = connection.execute(ordered).all()
        run_tags: dict[str, dict[str, str]] = {row.run_id: {} for row in rows}
        if rows:
            tag_rows = connection.execute(
                select(RunTagsTable.c.run_id, RunTagsTable.c.key, RunTagsTable.c.value).where(
                    RunTagsTable.c.run_id.in_(list(run_tags)), _NoIndex(RunTagsTable.c.key).in_(SHOWN_TAGS)
                )
            )
            for run_id, key, value in tag_rows:
                run_tags[run_id][key] = value
    return [
        RunRow(
            run_id=row.run_id,
            job_name=row.pipeline_name,
            status=DagsterRunStatus(row.status),
            created=row.create_timestamp.replace(tzinfo=UTC),
            start_time=row.start_time,
            end_time=row.end_time,
            tags=run_tags[row.run_id],
        )
        for row in rows
    ]


class _NoIndex(FunctionElement[str]):
    """A column SQLite must not choose an index for (``+column``, SQLite's documented way); the column elsewhere.

    SQLite, without planner statistics, prefers an index on the filtered column over the walk of the
    creation-time index: for a tag lookup of one run it picks ``(key, value)`` (two equalities beat one) and so
    reads every run carrying the tag for each run it visits (35 s for one page of 200 at 100,000 runs); for a
    status filter it reads every run of that status and sorts them. PostgreSQL's planner, with statistics,
    needs no such hint.
    """

    type = String()
    inherit_cache = True


@compiles(_NoIndex)
def _column(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_NoIndex, "sqlite")
def _unary_plus(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def _has_tag(key: str, value: str | Sequence[str] | None) -> object:
    """EXISTS a tag ``key`` with ``value`` (any of several; ``None``: any non-empty value) on the run."""
    run_tags = RunTagsTable.c
    matches = (
        run_tags.value != ""
        if value is None
        else run_tags.value == value
        if isinstance(value, str)
        else run_tags.value.in_(value)
    )
    return exists().where(run_tags.run_id == RunsTable.c.run_id, _NoIndex(run_tags.key) == key, matches)


def _search_condition(query: RunQuery) -> object:
    """Runs whose user, repository (uid or name tag) or ``"<job> (<trigger>)"`` contains the search text.

    Job names and triggers hold no space or parenthesis: a text without one matches the reason exactly when it
    matches the job name or the trigger, both resolved to values beforehand (:func:`resolve_search`). Only a
    text with one needs the reason built per run. Nothing to match: no run is read.
    """
    search = query.search or ""
    values = query.search_values or {}
    options = [_has_tag(key, sorted(values[key])) for key in SEARCHED_TAGS if values.get(key)]
    job = RunsTable.c.pipeline_name
    if values.get(JOB):
        options.append(job.in_(sorted(values[JOB])))
    if any(character in search for character in " ()"):
        run_tags = RunTagsTable.c
        trigger = (
            select(run_tags.value)
            .where(run_tags.run_id == RunsTable.c.run_id, _NoIndex(run_tags.key) == tags.TRIGGER)
            .limit(1)
            .scalar_subquery()
        )
        options.append(func.coalesce(job + " (" + trigger + ")", job).icontains(search, autoescape=True))
    if query.search_uids:
        options.append(_has_tag(tags.REPOSITORY, sorted(query.search_uids)))
    if search.lower() in "system":
        options.append(not_(_has_tag(tags.USER, None)))
    return or_(false(), *options)


def _naive(value: datetime) -> datetime:
    """UTC without zone, as the run storage keeps its timestamps."""
    return value.astimezone(UTC).replace(tzinfo=None)

"""The hourly rollup of the run history that the jobs statistics sum instead of every run, kept exact by triggers.

``jobs stats`` over a workspace's whole history used to visit every run of it (one tag-index probe per run:
~90,000 at 100,000 runs). Now the statistics sum ``lightfast_run_hours`` — per hour of ``create_timestamp``,
workspace tag and Dagster status: the number of runs, how many have a duration and the sum of their durations —
for the whole hours of the window, and read the rest live with the exact query (``jobs.statistics_query``): the
partial hour at the window's start, every run from the watermark on (the current hour) and any rolled-up hour
that changed since it was rolled up. A row with ``workspace`` NULL sums every run of its hour (tagged or not),
what the statistics without a workspace read.

**Where it lives: beside Dagster's run tables, in the run storage's own database** (like the indexes of
:mod:`lightfast_pipeline.runs.indexes`), not in the catalog. The rollup is a function of those tables, so it is
read and refreshed in the same transaction as the runs it sums: one snapshot (SQLite WAL, PostgreSQL
``REPEATABLE READ``) gives a result equal to the exact query on that same state, whatever commits meanwhile.
The statistics need only the Dagster instance (no catalog, no metrics code location, no DuckDB), and wiping or
replacing the run storage takes the rollup with it.

**What keeps it exact: triggers on ``runs`` and ``run_tags``** append the ``create_timestamp`` of every run
inserted, deleted or changed in status, start or end time, and of every run whose workspace tag is added,
changed or removed, to ``lightfast_run_changes``, in the transaction of the change itself. So a run that
finishes after its hour was rolled up (out of order), a run deleted from Dagster's storage, a run added with an
old creation time (``add_historical_run``), a finished run whose status is written again (a run failed by
monitoring whose worker then reports success) or a tag rewritten all leave a row naming their hour. A read takes
those hours live; the next refresh recomputes them from the runs and deletes the rows it saw. Neither clocks
nor a "finished runs never change" assumption are involved, and nothing polls Dagster. Rejected: a watermark on
create/end time kept by the reader or by a run-status sensor (it cannot see a deleted run, nor a late status
change of a finished one), and a table in the catalog (another database: no common snapshot with the runs).

The refresh runs in the process that reads (:func:`refresh`, called by every read; nothing to do most of the
time): it installs the tables and triggers when missing, recomputes the changed hours, then rolls up the whole
hours up to the current one, one day per write transaction (a SQLite writer holds the database for one day of
runs at most; the first build at 100,000 runs takes about a second, once). Concurrent refreshers skip while one
works (PostgreSQL ``NOWAIT``; SQLite waits for the write lock, then finds nothing left). A storage that refuses
the DDL (a read-only role) or is not SQLite/PostgreSQL is read with the exact query, as before.

Triggers on Dagster's tables are ours: named ``lightfast_rollup_*``, they only insert into our table (on
PostgreSQL a missing table is ignored, so they can never fail a Dagster write), and a read that finds one
missing (a migration that rebuilt a table) installs them again and rebuilds the rollup. ``uninstall`` removes
everything.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from dagster import DagsterInstance
from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from lightfast_pipeline import tags

VERSION = 1
HOUR = timedelta(hours=1)
FOLD_SPAN = timedelta(days=1)  # whole hours rolled up per write transaction
MAX_BACKLOG = 10_000  # change rows that make a read refresh even when none names a rolled-up hour
DIALECTS = ("sqlite", "postgresql")

# status -> [runs, runs with a duration, sum of their durations in seconds]
Totals = dict[str, list]

log = logging.getLogger(__name__)
metadata = sa.MetaData()
run_hours = sa.Table(
    "lightfast_run_hours",
    metadata,
    sa.Column("hour", sa.DateTime, nullable=False),  # naive UTC, like Dagster's create_timestamp
    sa.Column("workspace", sa.Text),  # the workspace tag; NULL: every run of the hour
    sa.Column("status", sa.String(63), nullable=False),  # Dagster's status
    sa.Column("runs", sa.BigInteger, nullable=False),
    sa.Column("timed", sa.BigInteger, nullable=False),
    sa.Column("duration_sum", sa.Float, nullable=False),
)
sa.Index(
    "lightfast_run_hours_by_workspace",
    run_hours.c.workspace,
    run_hours.c.hour,
    run_hours.c.status,
    run_hours.c.runs,
    run_hours.c.timed,
    run_hours.c.duration_sum,
)
run_changes = sa.Table(
    "lightfast_run_changes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("create_timestamp", sa.DateTime),  # of the changed run; NULL: everything (a TRUNCATE)
)
sa.Index("lightfast_run_changes_by_created", run_changes.c.create_timestamp)
rollup_state = sa.Table(
    "lightfast_run_rollup",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("watermark", sa.DateTime),  # hours before it are rolled up; NULL: nothing yet
)

_KEY = tags.WORKSPACE.replace("'", "''")
_CHANGES = run_changes.name

SQLITE_TRIGGERS = {
    "lightfast_rollup_runs_insert": f"""
        create trigger if not exists lightfast_rollup_runs_insert after insert on runs
        begin insert into {_CHANGES} (create_timestamp) values (new.create_timestamp); end""",
    "lightfast_rollup_runs_update": f"""
        create trigger if not exists lightfast_rollup_runs_update after update on runs
        when old.status is not new.status or old.start_time is not new.start_time
          or old.end_time is not new.end_time or old.create_timestamp is not new.create_timestamp
          or old.run_id is not new.run_id
        begin
          insert into {_CHANGES} (create_timestamp)
          select old.create_timestamp union select new.create_timestamp;
        end""",
    "lightfast_rollup_runs_delete": f"""
        create trigger if not exists lightfast_rollup_runs_delete after delete on runs
        begin insert into {_CHANGES} (create_timestamp) values (old.create_timestamp); end""",
    "lightfast_rollup_tags_insert": f"""
        create trigger if not exists lightfast_rollup_tags_insert after insert on run_tags
        when new.key = '{_KEY}'
        begin
          insert into {_CHANGES} (create_timestamp) select create_timestamp from runs where run_id = new.run_id;
        end""",
    "lightfast_rollup_tags_update": f"""
        create trigger if not exists lightfast_rollup_tags_update after update on run_tags
        when (old.key = '{_KEY}' or new.key = '{_KEY}')
          and (old.key is not new.key or old.value is not new.value or old.run_id is not new.run_id)
        begin
          insert into {_CHANGES} (create_timestamp)
          select create_timestamp from runs where run_id in (old.run_id, new.run_id);
        end""",
    "lightfast_rollup_tags_delete": f"""
        create trigger if not exists lightfast_rollup_tags_delete after delete on run_tags
        when old.key = '{_KEY}'
        begin
          insert into {_CHANGES} (create_timestamp) select create_timestamp from runs where run_id = old.run_id;
        end""",
}

# One function for every PostgreSQL trigger. The conditions are in its body, not in WHEN clauses: PostgreSQL
# records no dependency of a function body on columns, so no Dagster migration is ever blocked by ours. It
# skips when our table is gone instead of failing Dagster's write (no exception block: that would open a
# subtransaction per row, which a wipe of every run would turn into a subtransaction overflow).
POSTGRES_FUNCTION = f"""
create or replace function lightfast_rollup_change() returns trigger language plpgsql as $$
begin
  if to_regclass('{_CHANGES}') is null then
    return null;
  end if;
  if tg_op = 'TRUNCATE' then
    insert into {_CHANGES} (create_timestamp) values (null);
  elsif tg_table_name = 'runs' then
    if tg_op = 'INSERT' then
      insert into {_CHANGES} (create_timestamp) values (new.create_timestamp);
    elsif tg_op = 'DELETE' then
      insert into {_CHANGES} (create_timestamp) values (old.create_timestamp);
    elsif old.status is distinct from new.status or old.start_time is distinct from new.start_time
        or old.end_time is distinct from new.end_time or old.create_timestamp is distinct from new.create_timestamp
        or old.run_id is distinct from new.run_id then
      insert into {_CHANGES} (create_timestamp) values (old.create_timestamp);
      if new.create_timestamp is distinct from old.create_timestamp then
        insert into {_CHANGES} (create_timestamp) values (new.create_timestamp);
      end if;
    end if;
  elsif tg_op = 'INSERT' then
    if new.key = '{_KEY}' then
      insert into {_CHANGES} (create_timestamp) select create_timestamp from runs where run_id = new.run_id;
    end if;
  elsif tg_op = 'DELETE' then
    if old.key = '{_KEY}' then
      insert into {_CHANGES} (create_timestamp) select create_timestamp from runs where run_id = old.run_id;
    end if;
  elsif (old.key = '{_KEY}' or new.key = '{_KEY}') and (old.key is distinct from new.key
      or old.value is distinct from new.value or old.run_id is distinct from new.run_id) then
    insert into {_CHANGES} (create_timestamp)
    select create_timestamp from runs where run_id in (old.run_id, new.run_id);
  end if;
  return null;
end $$"""

_CALL = "execute function lightfast_rollup_change()"
POSTGRES_TRIGGERS = {
    "lightfast_rollup_runs": f"after insert or update or delete on runs for each row {_CALL}",
    "lightfast_rollup_runs_truncate": f"after truncate on runs for each statement {_CALL}",
    "lightfast_rollup_tags": f"after insert or update or delete on run_tags for each row {_CALL}",
    "lightfast_rollup_tags_truncate": f"after truncate on run_tags for each statement {_CALL}",
}


def floor_hour(value: datetime) -> datetime:
    """The start of the hour of ``value``."""
    return value.replace(minute=0, second=0, microsecond=0)


def naive_utc(value: datetime) -> datetime:
    """``value`` as Dagster stores ``create_timestamp``: naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _storage(instance: DagsterInstance) -> SqlRunStorage | None:
    storage = instance.run_storage
    return storage if isinstance(storage, SqlRunStorage) else None


_sqlite_engines: weakref.WeakKeyDictionary[SqlRunStorage, sa.Engine] = weakref.WeakKeyDictionary()


@contextmanager
def _connect(storage: SqlRunStorage) -> Iterator[Connection]:
    """A connection to the run storage's database. On SQLite, from an engine of our own per storage (same URL,
    no pool, like Dagster's): Dagster's SQLite storage builds a new engine for every connection, so no statement
    compiled on it is ever reused, and compiling was most of a read's time under load."""
    engine = _sqlite_engines.get(storage)
    if engine is None:
        with storage.connect() as connection:
            if connection.dialect.name != "sqlite":
                yield connection
                return
            engine = sa.create_engine(connection.engine.url, poolclass=NullPool)
        _sqlite_engines[storage] = engine
    with engine.connect() as connection:
        yield connection


@contextmanager
def _transaction(connection: Connection, *, write: bool) -> Iterator[Connection]:
    """One database transaction with one snapshot for every statement in it.

    Dagster's connections do not give that: PostgreSQL's are autocommit, and pysqlite begins only before a
    write. SQLite: ``BEGIN`` (WAL: a snapshot from the first read) or ``BEGIN IMMEDIATE`` (the write lock first,
    so a refresh sees every committed change). PostgreSQL: ``REPEATABLE READ`` (a refresh deletes only the
    change rows its snapshot sees; rows committed later stay for the next one).
    """
    if connection.dialect.name == "sqlite":
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
    else:
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ" + ("" if write else " READ ONLY")
    connection.exec_driver_sql(begin)
    try:
        yield connection
    except BaseException:
        with suppress(sa.exc.DBAPIError):
            connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")


# Installing


def _triggers(dialect: str) -> Sequence[str]:
    return list(SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS)


def _present(connection: Connection) -> set[str]:
    """The names of the rollup's tables and triggers that exist (on Dagster's tables, for the triggers)."""
    if connection.dialect.name == "sqlite":
        names = ", ".join(f"'{name}'" for name in (*metadata.tables, *SQLITE_TRIGGERS))
        query = f"select name from sqlite_master where name in ({names})"
    else:
        triggers = ", ".join(f"'{name}'" for name in POSTGRES_TRIGGERS)
        tables = ", ".join(f"to_regclass('{name}')" for name in metadata.tables)
        query = (
            f"select tgname from pg_trigger where tgname in ({triggers})"
            " and tgrelid in (to_regclass('runs'), to_regclass('run_tags'))"
            f" union all select relname from pg_class where oid in ({tables})"
        )
    return {row[0] for row in connection.exec_driver_sql(query)}


def _state(connection: Connection, *, lock: bool = False) -> tuple[int, datetime | None] | None:
    """(version, watermark), or None when the rollup is not installed (a table or a trigger missing)."""
    if not {*metadata.tables, *_triggers(connection.dialect.name)} <= _present(connection):
        return None
    query = sa.select(rollup_state.c.version, rollup_state.c.watermark).where(rollup_state.c.id == 1)
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update(nowait=True)
    row = connection.execute(query).first()
    return (row.version, row.watermark) if row else None


def _install(connection: Connection) -> None:
    """Create what is missing and restart the rollup from the runs (in the caller's write transaction)."""
    if connection.dialect.name == "postgresql":
        # A trigger needs a lock on Dagster's tables that queues every run write behind it: give up soon (the
        # reads use the exact query meanwhile) rather than stall Dagster behind a long transaction.
        connection.exec_driver_sql("set local lock_timeout = '2s'")
    metadata.create_all(connection, checkfirst=True)
    if connection.dialect.name == "sqlite":
        for ddl in SQLITE_TRIGGERS.values():
            connection.exec_driver_sql(ddl)
    else:
        connection.exec_driver_sql(POSTGRES_FUNCTION)
        present = _present(connection)
        for name, definition in POSTGRES_TRIGGERS.items():
            if name not in present:
                connection.exec_driver_sql(f"create trigger {name} {definition}")
    # Changes made before the triggers existed are unknown: the next refresh rolls up from the runs themselves.
    connection.execute(run_hours.delete())
    connection.execute(run_changes.delete())
    connection.execute(rollup_state.delete())
    connection.execute(rollup_state.insert().values(id=1, version=VERSION, watermark=None))


def install(instance: DagsterInstance) -> bool:
    """Create the rollup's tables and triggers where missing and restart the rollup (the next refresh rebuilds
    it). False, after logging why, when the storage is not SQLite/PostgreSQL or refuses the DDL."""
    storage = _storage(instance)
    if storage is None:
        return False
    with _connect(storage) as connection:
        return _install_on(connection)


def _install_on(connection: Connection) -> bool:
    if connection.dialect.name not in DIALECTS:
        return False
    try:
        with _transaction(connection, write=True):
            _install(connection)
    except sa.exc.DBAPIError as error:
        with _transaction(connection, write=False):
            if _state(connection) is not None:
                return True  # another process installed it at the same moment
        log.warning("run storage without the jobs rollup (%s): jobs statistics read every run", error)
        return False
    return True


def uninstall(instance: DagsterInstance) -> None:
    """Drop the triggers, the function and the tables of the rollup (statistics then read every run)."""
    storage = _storage(instance)
    if storage is None:
        return
    with _connect(storage) as connection, _transaction(connection, write=True):
        dialect = connection.dialect.name
        for name in _triggers(dialect):
            table = "run_tags" if "_tags" in name else "runs"
            connection.exec_driver_sql(
                f"drop trigger if exists {name}" + ("" if dialect == "sqlite" else f" on {table}")
            )
        if dialect == "postgresql":
            connection.exec_driver_sql("drop function if exists lightfast_rollup_change()")
        metadata.drop_all(connection, checkfirst=True)


# Rolling up


def _hour_expression(dialect: str, column: sa.ColumnElement) -> sa.ColumnElement:
    if dialect == "sqlite":
        return sa.func.strftime("%Y-%m-%d %H:00:00", column)
    return sa.func.date_trunc("hour", column)


def _hour_value(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _fold(connection: Connection, start: datetime, end: datetime) -> int:
    """Replace the rollup rows of the hours in [start, end) by the aggregate of their runs; returns the rows."""
    dialect = connection.dialect.name
    connection.execute(run_hours.delete().where(run_hours.c.hour >= start, run_hours.c.hour < end))
    duration = RunsTable.c.end_time - RunsTable.c.start_time
    hour = _hour_expression(dialect, RunsTable.c.create_timestamp).label("hour")
    in_range = sa.and_(RunsTable.c.create_timestamp >= start, RunsTable.c.create_timestamp < end)
    measures = (sa.func.count(), sa.func.count(duration), sa.func.coalesce(sa.func.sum(duration), 0.0))
    every = sa.select(hour, sa.null(), RunsTable.c.status, *measures).where(in_range).group_by(hour, RunsTable.c.status)
    # A run's workspace tag, looked up by run id. SQLite is kept off the (key, value) indexes (``+key``):
    # without planner statistics it would rather walk every workspace tag for each run.
    key = sa.literal_column(f"+{RunTagsTable.name}.key") if dialect == "sqlite" else RunTagsTable.c.key
    tagged = (
        sa.select(hour, RunTagsTable.c.value, RunsTable.c.status, *measures)
        .select_from(RunsTable.join(RunTagsTable, RunTagsTable.c.run_id == RunsTable.c.run_id, full=False))
        .where(in_range, key == tags.WORKSPACE)
        .group_by(hour, RunTagsTable.c.value, RunsTable.c.status)
    )
    rows = [
        {
            "hour": _hour_value(row[0]),
            "workspace": row[1],
            "status": row[2],
            "runs": row[3],
            "timed": row[4],
            "duration_sum": float(row[5]),
        }
        for query in (every, tagged)
        for row in connection.execute(query)
        if row[2] is not None
    ]
    if rows:
        connection.execute(run_hours.insert(), rows)
    return len(rows)


def _ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours merged into [start, end) ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def _step(connection: Connection, target: datetime) -> bool | None:
    """One refresh transaction: recompute the rolled-up hours that changed, roll up at most a day more, delete
    the change rows seen. Returns whether more is due (None: not installed)."""
    state = _state(connection, lock=True)
    if state is None:
        return None
    version, watermark = state
    changes = connection.execute(sa.select(run_changes.c.id, run_changes.c.create_timestamp)).all()
    if version != VERSION or any(created is None for _, created in changes):
        connection.execute(run_hours.delete())
        watermark = None
    if watermark is None:
        first = connection.execute(sa.select(sa.func.min(RunsTable.c.create_timestamp))).scalar()
        watermark = min(floor_hour(first), target) if first is not None else target
    for start, end in _ranges(floor_hour(created) for _, created in changes if created < watermark):
        _fold(connection, start, end)
    end = min(target, watermark + FOLD_SPAN)
    if end > watermark:
        _fold(connection, watermark, end)
        watermark = end
    if changes:
        connection.execute(run_changes.delete().where(run_changes.c.id <= max(change_id for change_id, _ in changes)))
    connection.execute(rollup_state.update().where(rollup_state.c.id == 1).values(version=VERSION, watermark=watermark))
    return watermark < target


def _refresh_on(connection: Connection, target: datetime) -> bool:
    """Refresh in write transactions on ``connection`` (installing first if needed); whether it is readable."""
    installed = False
    while True:
        try:
            with _transaction(connection, write=True):
                due = _step(connection, target)
        except sa.exc.OperationalError as error:  # SQLite busy, or PostgreSQL: another refresher (NOWAIT)
            log.info("jobs rollup not refreshed now (%s); reads take the pending hours live", error)
            return True
        if due is None:
            if installed or not _install_on(connection):
                return False
            installed = True
        elif not due:
            return True


def refresh(instance: DagsterInstance, *, now: datetime | None = None) -> bool:
    """Install the rollup when missing, recompute changed hours and roll up every whole hour before ``now``'s.

    Returns whether the rollup can be read. Another process refreshing at the same moment, or a busy SQLite
    database, ends this refresh early: reads stay exact (they take the pending hours live).
    """
    storage = _storage(instance)
    if storage is None:
        return False
    with _connect(storage) as connection:
        if connection.dialect.name not in DIALECTS:
            return False
        return _refresh_on(connection, floor_hour(naive_utc(now or datetime.now(UTC))))


# Reading


def aggregate_query(
    workspace: str | None,
    after: datetime,
    *,
    inclusive: bool = False,
    before: datetime | None = None,
    mean: bool = False,
) -> sa.Select:
    """Runs created after ``after`` (from it on when ``inclusive``; before ``before`` if given) and tagged with
    ``workspace``, grouped by Dagster status: count, sum (``mean``: average) and count of ``end_time -
    start_time`` in seconds. See ``jobs.statistics_query`` for why it is written this way."""
    duration = RunsTable.c.end_time - RunsTable.c.start_time
    # Grouped by an expression (status is never NULL): on the bare column SQLite would rather walk Dagster's
    # (status, update_timestamp, create_timestamp) index in order, i.e. every run, than the range.
    status = sa.func.coalesce(RunsTable.c.status, "")
    created = RunsTable.c.create_timestamp
    after = naive_utc(after)
    measure = sa.func.avg(duration) if mean else sa.func.sum(duration)
    query = (
        select(status, sa.func.count(), measure, sa.func.count(duration))
        .where(created >= after if inclusive else created > after)
        .group_by(status)
    )
    if before is not None:
        query = query.where(created < naive_utc(before))
    if workspace is not None:
        query = query.where(
            sa.exists().where(
                RunTagsTable.c.key == tags.WORKSPACE,
                RunTagsTable.c.value == workspace,
                RunTagsTable.c.run_id == RunsTable.c.run_id,
            )
        )
    return query


def _add(totals: Totals, rows: Iterable[Sequence]) -> None:
    for status, runs, duration_sum, timed in rows:
        entry = totals.setdefault(status, [0, 0, 0.0])
        entry[0] += int(runs)
        entry[1] += int(timed or 0)
        entry[2] += float(duration_sum or 0.0)


def _read(connection: Connection, workspace: str | None, since: datetime, target: datetime | None) -> Totals | None:
    """The totals per status of runs created after ``since``: the rolled-up whole hours of the window plus the
    rest live, in the caller's read transaction. None when not installed, or, given ``target`` (the hour a
    refresh would roll up to), when a refresh is due: the caller refreshes and reads again."""
    state = _state(connection)
    if state is None or state[0] != VERSION or state[1] is None:
        return None
    watermark = state[1]
    stale = sa.or_(run_changes.c.create_timestamp.is_(None), run_changes.c.create_timestamp < watermark)
    changed = {row[0] for row in connection.execute(sa.select(run_changes.c.create_timestamp).where(stale).distinct())}
    if target is not None and (
        changed
        or watermark < target
        or connection.execute(sa.select(run_changes.c.id).offset(MAX_BACKLOG).limit(1)).first() is not None
    ):
        return None
    totals: Totals = {}
    first = floor_hour(since) + HOUR  # the first hour whose every run was created after ``since``
    if None in changed or first >= watermark:
        _add(totals, connection.execute(aggregate_query(workspace, since)))
        return totals
    dirty = _ranges(hour for hour in map(floor_hour, changed) if hour >= first)
    scope = run_hours.c.workspace.is_(None) if workspace is None else run_hours.c.workspace == workspace
    rolled = (
        sa.select(
            run_hours.c.status,
            sa.func.sum(run_hours.c.runs),
            sa.func.sum(run_hours.c.duration_sum),
            sa.func.sum(run_hours.c.timed),
        )
        .where(scope, run_hours.c.hour >= first, run_hours.c.hour < watermark)
        .group_by(run_hours.c.status)
    )
    for start, end in dirty:
        rolled = rolled.where(sa.or_(run_hours.c.hour < start, run_hours.c.hour >= end))
    _add(totals, connection.execute(rolled))
    _add(totals, connection.execute(aggregate_query(workspace, since, before=first)))
    _add(totals, connection.execute(aggregate_query(workspace, watermark, inclusive=True)))
    for start, end in dirty:
        _add(totals, connection.execute(aggregate_query(workspace, start, inclusive=True, before=end)))
    return totals


def status_totals(
    instance: DagsterInstance, workspace: str | None, since: datetime, *, now: datetime | None = None
) -> Totals | None:
    """Per Dagster status: runs created after ``since`` (tagged with ``workspace``; every run when None), how
    many have a duration and the sum of those durations (seconds) — the rollup plus the live rest, read in one
    snapshot, after a refresh when one is due. None when the rollup cannot be used on this storage (the caller
    then runs the exact query)."""
    storage = _storage(instance)
    if storage is None:
        return None
    since = naive_utc(since)
    target = floor_hour(naive_utc(now or datetime.now(UTC)))
    try:
        with _connect(storage) as connection:
            if connection.dialect.name not in DIALECTS:
                return None
            with _transaction(connection, write=False):
                totals = _read(connection, workspace, since, target)
            if totals is not None:
                return totals
            if not _refresh_on(connection, target):
                return None
            with _transaction(connection, write=False):
                return _read(connection, workspace, since, None)
    except sa.exc.DBAPIError as error:
        log.warning("jobs rollup unreadable (%s): reading every run", error)
        return None

"""The jobs statistics from the hourly rollup equal the exact query over every run, on SQLite and PostgreSQL.

Every check compares ``statistics()`` (rollup + live rest) with ``statistics(exact=True)`` (one GROUP BY over
the window's runs, the implementation before the rollup) on the same state, with ``==``: several workspaces and
untagged runs, runs in every Dagster status, windows from an hour with a partial first hour to a century, after
each kind of change the rollup must follow: a run that finishes after its hour was rolled up, a deleted run, a
run added with an old creation time, a finished run whose status is written again, a workspace tag rewritten,
triggers dropped by a migration, the storage wiped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
from dagster._core.utils import make_new_run_id

from lightfast_pipeline import tags
from lightfast_pipeline.runs import jobs, rollup
from lightfast_pipeline.settings import Settings
from tests.support.postgres import deploy_environment, write_deploy_instance
from tests.test_runs import ORIGIN, failing_job, report_job

NOW = datetime.now(UTC).replace(minute=20, second=7, microsecond=123456)
WORKSPACES = ("acme", "beta", None, "nobody")  # None: every run, untagged ones included
WINDOWS = (
    timedelta(minutes=50),  # inside the current hour: all live
    timedelta(hours=1, minutes=30),  # a partial first hour
    timedelta(hours=24),
    timedelta(hours=30),  # starts exactly on a run's creation time (not counted: created after the start)
    timedelta(hours=30, minutes=20, seconds=7.123456),  # starts on an hour, and on a run created then
    timedelta(hours=24 * 31),
    timedelta(hours=24 * 365 * 100),  # the whole history
)


@pytest.fixture(autouse=True)
def _no_liveness_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The history's started runs have no worker: the dead-run check (tested in test_runs.py) would read their
    events on every one of the hundreds of statistics calls here, and change nothing."""
    monkeypatch.setattr(jobs, "fail_dead_runs", lambda instance: [])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def instance(request: pytest.FixtureRequest, lightfast_env: Settings) -> Iterator[DagsterInstance]:
    """A real instance on the embedded default's SQLite storage or on deploy/dagster.yaml's PostgreSQL."""
    home = lightfast_env.dagster_home
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name, value in deploy_environment(url).items():
            monkeypatch.setenv(name, value)
        write_deploy_instance(Path(home))
    else:
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}))
    with DagsterInstance.get() as dagster_instance:
        yield dagster_instance


def _add(
    instance: DagsterInstance,
    created: datetime,
    status: DagsterRunStatus,
    workspace: str | None = "acme",
    *,
    seconds: float | None = None,
) -> str:
    """A run created at ``created`` that went through Dagster's status events up to ``status``."""
    run_tags = {tags.TRIGGER: "manual"} | ({tags.WORKSPACE: workspace} if workspace else {})
    run = DagsterRun(
        job_name="report_job", run_id=make_new_run_id(), tags=run_tags, status=DagsterRunStatus.QUEUED,
        remote_job_origin=ORIGIN,
    )  # fmt: skip
    instance.run_storage.add_historical_run(run, created)
    started = created + timedelta(seconds=3.25)
    if status in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
        _event(instance, run.run_id, DagsterEventType.RUN_STARTING, started)
        if status == DagsterRunStatus.NOT_STARTED:
            _set_status(instance, run.run_id, status)
    elif status != DagsterRunStatus.QUEUED:
        _event(instance, run.run_id, DagsterEventType.RUN_START, started)
        ended = started + timedelta(seconds=seconds if seconds is not None else 7.5)
        final = {
            DagsterRunStatus.SUCCESS: DagsterEventType.RUN_SUCCESS,
            DagsterRunStatus.FAILURE: DagsterEventType.RUN_FAILURE,
            DagsterRunStatus.CANCELED: DagsterEventType.RUN_CANCELED,
            DagsterRunStatus.CANCELING: DagsterEventType.RUN_CANCELING,
        }
        if status in final:
            _event(instance, run.run_id, final[status], ended)
        elif status != DagsterRunStatus.STARTED:
            _set_status(instance, run.run_id, status)  # SUSPENDED, MANAGED: no event of their own here
    return run.run_id


def _event(instance: DagsterInstance, run_id: str, event_type: DagsterEventType, at: datetime) -> None:
    """What Dagster writes to the run storage when it stores a run event (status, start or end time)."""
    event = DagsterEvent(event_type_value=event_type.value, job_name="report_job")
    instance.run_storage.handle_run_event(run_id, event, update_timestamp=at)


def _set_status(instance: DagsterInstance, run_id: str, status: DagsterRunStatus) -> None:
    with instance.run_storage.connect() as connection:
        connection.execute(RunsTable.update().where(RunsTable.c.run_id == run_id).values(status=status.value))


def _history(instance: DagsterInstance) -> dict[str, str]:
    """Three days of runs in two workspaces and untagged, every status, plus two real runs; named ones returned."""
    named = {}
    statuses = list(DagsterRunStatus)
    for index in range(150):
        created = NOW - timedelta(hours=72) + timedelta(minutes=29 * index, seconds=index % 7, microseconds=index)
        workspace = ("acme", "acme", "beta", None)[index % 4]
        status = statuses[index % len(statuses)] if index % 3 else DagsterRunStatus.SUCCESS
        _add(instance, created, status, workspace, seconds=1 + (index * 37 % 200) / 8)
    named["on the boundary"] = _add(instance, NOW - timedelta(hours=30), DagsterRunStatus.SUCCESS, seconds=2)
    named["on the hour"] = _add(instance, rollup.floor_hour(NOW) - timedelta(hours=30), DagsterRunStatus.FAILURE)
    named["long"] = _add(instance, NOW - timedelta(hours=5, minutes=10), DagsterRunStatus.STARTED)
    named["old"] = _add(instance, NOW - timedelta(hours=50), DagsterRunStatus.FAILURE, "beta")
    named["old untagged"] = _add(instance, NOW - timedelta(hours=48), DagsterRunStatus.SUCCESS, None)
    named["current hour"] = _add(instance, NOW - timedelta(minutes=5), DagsterRunStatus.SUCCESS, seconds=4)
    report_job.execute_in_process(instance=instance, tags={tags.WORKSPACE: "acme"})
    failing_job.execute_in_process(instance=instance, tags={tags.WORKSPACE: "beta"}, raise_on_error=False)
    return named


def _assert_equal(instance: DagsterInstance, now: datetime = NOW) -> None:
    for workspace in WORKSPACES:
        for window in WINDOWS:
            expected = jobs.statistics(instance, workspace, window, now=now, exact=True)
            assert jobs.statistics(instance, workspace, window, now=now) == expected, (workspace, window)
    whole = jobs.statistics(instance, None, WINDOWS[-1], now=now, exact=True)
    with instance.run_storage.connect() as connection:
        assert whole.total == connection.execute(sa.select(sa.func.count()).select_from(RunsTable)).scalar()


def _rolled(instance: DagsterInstance) -> tuple[datetime | None, int, int]:
    """(watermark, rollup rows, pending change rows)."""
    with instance.run_storage.connect() as connection:
        watermark = connection.execute(sa.select(rollup.rollup_state.c.watermark)).scalar()
        hours = connection.execute(sa.select(sa.func.count()).select_from(rollup.run_hours)).scalar()
        changes = connection.execute(sa.select(sa.func.count()).select_from(rollup.run_changes)).scalar()
    return watermark, hours, changes


def test_rollup_equals_the_exact_query_through_every_kind_of_change(instance: DagsterInstance) -> None:
    named = _history(instance)
    _assert_equal(instance)  # the first read installs and builds the rollup
    watermark, hours, _ = _rolled(instance)
    assert watermark == rollup.floor_hour(rollup.naive_utc(NOW)) and hours > 100
    assert rollup.status_totals(instance, "acme", NOW - timedelta(days=3), now=NOW) is not None  # not the fallback

    # A run started before the watermark finishes after it moved: its hour is logged, read live, recomputed.
    _event(instance, named["long"], DagsterEventType.RUN_SUCCESS, NOW - timedelta(minutes=1))
    assert _rolled(instance)[2] == 1
    _assert_equal(instance)
    assert _rolled(instance)[2] == 0

    # Rolled-up runs deleted from Dagster's storage (one without tags); another added with an old creation time.
    instance.delete_run(named["old"])
    instance.delete_run(named["old untagged"])
    _add(instance, NOW - timedelta(hours=60), DagsterRunStatus.CANCELED, "beta")
    _assert_equal(instance)

    # A finished run failed from outside (liveness, monitoring) whose worker then reports success.
    _event(instance, named["on the boundary"], DagsterEventType.RUN_FAILURE, NOW - timedelta(hours=29))
    _assert_equal(instance)
    _event(instance, named["on the boundary"], DagsterEventType.RUN_SUCCESS, NOW - timedelta(hours=28))
    _assert_equal(instance)

    # A workspace tag rewritten, removed, and a run's only workspace tag added late.
    instance.add_run_tags(named["on the boundary"], {tags.WORKSPACE: "beta"})
    _assert_equal(instance)
    with instance.run_storage.connect() as connection:
        connection.execute(
            RunTagsTable.delete().where(RunTagsTable.c.run_id == named["long"], RunTagsTable.c.key == tags.WORKSPACE)
        )
    _assert_equal(instance)
    instance.add_run_tags(named["long"], {tags.WORKSPACE: "acme"})
    _assert_equal(instance)

    # Hours later: the watermark moves on past the current hour's runs.
    later = NOW + timedelta(hours=3)
    _add(instance, NOW + timedelta(hours=1), DagsterRunStatus.SUCCESS, "acme")
    _assert_equal(instance, later)
    assert _rolled(instance)[0] == rollup.floor_hour(rollup.naive_utc(later))


def test_pending_changes_are_read_live_when_no_refresh_runs(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that cannot run (another process holds it, SQLite busy) leaves changed hours to the reads."""
    named = _history(instance)
    _assert_equal(instance)
    monkeypatch.setattr(rollup, "_refresh_on", lambda connection, target: True)
    _event(instance, named["long"], DagsterEventType.RUN_FAILURE, NOW - timedelta(minutes=2))
    instance.delete_run(named["old"])
    _add(instance, NOW - timedelta(hours=40), DagsterRunStatus.SUCCESS, None)
    assert _rolled(instance)[2] >= 3
    _assert_equal(instance)
    _assert_equal(instance, NOW + timedelta(hours=2))  # the watermark is behind: the hours after it are live
    assert _rolled(instance)[2] >= 3


def test_dropped_triggers_and_a_wiped_storage_rebuild_the_rollup(instance: DagsterInstance) -> None:
    named = _history(instance)
    _assert_equal(instance)
    with instance.run_storage.connect() as connection:  # what a migration that rebuilds the table does
        sqlite = connection.dialect.name == "sqlite"
        connection.execute(
            sa.text(
                "drop trigger lightfast_rollup_runs_update" if sqlite else "drop trigger lightfast_rollup_runs on runs"
            )
        )
    _event(instance, named["long"], DagsterEventType.RUN_SUCCESS, NOW)  # not logged: no trigger
    _assert_equal(instance)
    instance.wipe()
    _assert_equal(instance)
    _add(instance, NOW - timedelta(hours=3), DagsterRunStatus.SUCCESS)
    _assert_equal(instance)


def test_uninstalled_or_refused_rollup_falls_back_to_the_exact_query(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(instance)
    assert rollup.refresh(instance, now=NOW)
    rollup.uninstall(instance)
    with instance.run_storage.connect() as connection:
        assert rollup._present(connection) == set()
    instance.delete_run(instance.get_run_records(limit=1)[0].dagster_run.run_id)  # no trigger, no error
    monkeypatch.setattr(rollup, "_install", lambda connection: connection.execute(sa.text("select * from nowhere")))
    assert rollup.status_totals(instance, "acme", NOW - timedelta(days=3), now=NOW) is None
    _assert_equal(instance)


def test_a_refresh_held_by_another_process_leaves_reads_exact(instance: DagsterInstance) -> None:
    """Another refresher holds the rollup (PostgreSQL: its state row, NOWAIT; SQLite: the write lock, busy
    timeout): this read does not wait for it and takes the changed hour live."""
    named = _history(instance)
    _assert_equal(instance)
    _event(instance, named["long"], DagsterEventType.RUN_SUCCESS, NOW - timedelta(minutes=3))
    with instance.run_storage.connect() as holder, rollup._transaction(holder, write=True):
        assert rollup._state(holder, lock=True) is not None
        expected = jobs.statistics(instance, "acme", WINDOWS[-1], now=NOW, exact=True)
        assert jobs.statistics(instance, "acme", WINDOWS[-1], now=NOW) == expected
    assert _rolled(instance)[2] == 1  # still pending: no refresh ran
    _assert_equal(instance)
    assert _rolled(instance)[2] == 0

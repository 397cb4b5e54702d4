"""The jobs API over a real Dagster instance with real runs of small jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import yaml
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    MetadataValue,
    Output,
    job,
    op,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id
from sqlalchemy import select
from typer.testing import CliRunner

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent
from lightfast_pipeline.cli.app import app as cli_app
from lightfast_pipeline.cli.common import get_runtime
from lightfast_pipeline.runs import jobs as runs
from lightfast_pipeline.runs.indexes import INDEXES, ensure_run_indexes, missing_run_indexes
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.workspaces.workspace import get_or_create_organization


@op
def report_counts():
    """Two materialisations whose numeric metadata the jobs output must sum."""
    yield AssetMaterialization(
        "documents",
        metadata={"documents_added": 3, "ratio": 0.5, "label": "a", "at": MetadataValue.timestamp(1.7e9)},
    )
    yield AssetMaterialization("chunks", metadata={"documents_added": 2, "chunks_embedded": 7, "ok": True})
    yield Output(None)


@job
def report_job():
    report_counts()


@op
def explode():
    raise ValueError("source unreachable: connection refused")


@job
def failing_job():
    explode()


def _tags(workspace: str = "default", repository: str = "repo1", trigger: str = "manual") -> dict[str, str]:
    return {
        tags.TRIGGER: trigger,
        tags.USER: "alice",
        tags.WORKSPACE: workspace,
        tags.REPOSITORY: repository,
    }


@pytest.fixture
def instance(lightfast_env: Settings) -> Iterator[DagsterInstance]:
    """A real on-disk instance using the queued run coordinator, as in production."""
    config = {"run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}}
    (lightfast_env.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with DagsterInstance.get() as dagster_instance:
        yield dagster_instance


# Where the queued run coordinator would load report_job from (this file), as a launched run records it.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__, attribute="report_job")),
        "__repository__report_job",
    ),
    "report_job",
)


def _historical(instance: DagsterInstance, at: datetime, status: DagsterRunStatus, **tag_args: str) -> str:
    run = DagsterRun(
        job_name="report_job",
        run_id=make_new_run_id(),
        tags=_tags(**tag_args),
        status=status,
        remote_job_origin=ORIGIN,
    )
    instance.run_storage.add_historical_run(run, at)
    return run.run_id


def test_status_mapping_covers_every_dagster_status() -> None:
    assert {runs.job_status(status) for status in DagsterRunStatus} == set(runs.JOB_STATUSES)
    assert runs.job_status(DagsterRunStatus.STARTING) == runs.QUEUED
    assert runs.job_status(DagsterRunStatus.CANCELING) == runs.RUNNING
    assert runs.job_status(DagsterRunStatus.CANCELED) == runs.CANCELLED


def test_cursor_never_skips_or_repeats_runs_sharing_a_timestamp(instance: DagsterInstance) -> None:
    same_time = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    mine = [_historical(instance, same_time, DagsterRunStatus.SUCCESS) for _ in range(23)]
    _historical(instance, same_time, DagsterRunStatus.SUCCESS, workspace="other")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = runs.list_jobs(instance, "default", limit=5, cursor=cursor)
        pages += 1
        seen.extend(job.id for job in page.jobs)
        if not page.has_more:
            assert page.next_cursor is None
            break
        assert page.next_cursor == page.jobs[-1].id
        cursor = page.next_cursor
    assert pages == 5
    assert seen == list(reversed(mine))  # newest first, each exactly once, other workspace excluded


def test_list_filters_by_status_repository_and_trigger(instance: DagsterInstance) -> None:
    at = datetime.now(UTC)
    queued = _historical(instance, at, DagsterRunStatus.QUEUED, repository="r1")
    starting = _historical(instance, at, DagsterRunStatus.STARTING, repository="r2")
    running = _historical(instance, at, DagsterRunStatus.STARTED, repository="r1", trigger="webhook")
    failed = _historical(instance, at, DagsterRunStatus.FAILURE, repository="r2", trigger="webhook")

    def ids(**filters: str) -> set[str]:
        return {job.id for job in runs.list_jobs(instance, "default", **filters).jobs}

    assert ids(status="queued") == {queued, starting}
    assert ids(status="running") == {running}
    assert ids(status="failed") == {failed}
    assert ids(repository="r1") == {queued, running}
    assert ids(trigger="webhook") == {running, failed}
    assert ids(repository="r2", trigger="webhook") == {failed}
    assert {job.id for job in runs.list_jobs(instance, None).jobs} == {queued, starting, running, failed}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"limit": 0}, "limit must be between 1 and 100"),
        ({"limit": 101}, "limit must be between 1 and 100"),
        ({"status": "done"}, "unknown status 'done'"),
        ({"trigger": "cron"}, "unknown trigger 'cron'"),
        ({"cursor": "not-a-run"}, "unknown cursor 'not-a-run'"),
    ],
)
def test_list_rejects_bad_input(instance: DagsterInstance, filters: dict, message: str) -> None:
    with pytest.raises(runs.JobError, match=message):
        runs.list_jobs(instance, "default", **filters)


def test_get_reports_input_output_times_and_error(instance: DagsterInstance) -> None:
    ok = report_job.execute_in_process(instance=instance, tags=_tags(), run_config={"ops": {}})
    bad = failing_job.execute_in_process(instance=instance, tags=_tags(trigger="webhook"), raise_on_error=False)

    detail = runs.get_job(instance, ok.run_id)
    assert detail.job.status == runs.COMPLETED
    assert detail.job.name == "report_job"
    assert (detail.job.trigger, detail.job.user, detail.job.workspace, detail.job.repository) == (
        "manual",
        "alice",
        "default",
        "repo1",
    )
    assert detail.output == {"chunks_embedded": 7, "documents_added": 5, "ratio": 0.5}
    assert detail.error is None
    assert detail.input["tags"][tags.USER] == "alice"
    assert detail.input["run_config"] == {"ops": {}}
    record = instance.get_run_record_by_id(ok.run_id)
    assert detail.job.started_at == datetime.fromtimestamp(record.start_time, UTC)
    assert detail.job.completed_at == datetime.fromtimestamp(record.end_time, UTC)
    assert detail.job.duration_ms == round((record.end_time - record.start_time) * 1000)
    assert detail.job.queue_ms is not None and detail.job.queue_ms >= 0

    failure = runs.get_job(instance, bad.run_id)
    assert failure.job.status == runs.FAILED
    assert failure.error is not None
    assert failure.error.startswith("explode: ")
    assert "source unreachable: connection refused" in failure.error

    payload = failure.to_dict()
    assert set(payload) == {
        "id",
        "name",
        "status",
        "trigger",
        "user",
        "workspace",
        "repository",
        "created_at",
        "started_at",
        "completed_at",
        "duration_ms",
        "queue_ms",
        "input",
        "output",
        "error",
    }
    assert payload["created_at"].endswith("Z")
    assert datetime.fromisoformat(payload["completed_at"]) == failure.job.completed_at

    with pytest.raises(runs.JobError, match="no job with id 'missing'"):
        runs.get_job(instance, "missing")


def test_statistics_counts_rate_and_mean_duration(instance: DagsterInstance) -> None:
    completed = [report_job.execute_in_process(instance=instance, tags=_tags()) for _ in range(3)]
    failing_job.execute_in_process(instance=instance, tags=_tags(), raise_on_error=False)
    now = datetime.now(UTC)
    _historical(instance, now, DagsterRunStatus.QUEUED)
    _historical(instance, now, DagsterRunStatus.CANCELED)
    _historical(instance, now - timedelta(hours=30), DagsterRunStatus.FAILURE)  # outside the window
    _historical(instance, now, DagsterRunStatus.SUCCESS, workspace="other")  # other workspace

    stats = runs.statistics(instance, "default", timedelta(hours=24))
    assert stats.by_status == {"queued": 1, "running": 0, "completed": 3, "failed": 1, "cancelled": 1}
    assert stats.total == 6
    assert stats.success_rate == 75.0
    durations = [runs.get_job(instance, result.run_id).job.duration_ms for result in completed]
    assert stats.avg_duration_ms == pytest.approx(sum(durations) / 3, abs=1)

    wide = runs.statistics(instance, None, timedelta(hours=48))
    assert wide.total == 8
    assert wide.success_rate == 66.67  # 4 completed / (4 completed + 2 failed)
    assert wide.avg_duration_ms == stats.avg_duration_ms  # runs that never started have no duration

    empty = runs.statistics(instance, "nobody", timedelta(hours=1))
    assert empty.to_dict() == {
        "total": 0,
        "by_status": {"queued": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0},
        "success_rate": None,
        "avg_duration_ms": None,
    }


def test_cancel_queued_run_records_who_and_refuses_finished(instance: DagsterInstance, lightfast_env: Settings) -> None:
    runtime = Runtime(lightfast_env)
    with runtime.session() as session:
        get_or_create_organization(session)
    queued = instance.create_run_for_job(
        report_job, tags=_tags(), status=DagsterRunStatus.QUEUED, remote_job_origin=ORIGIN
    )

    with runtime.session() as session:
        job = runs.cancel_job(instance, session, queued.run_id, user="bob")
    assert job.status == runs.CANCELLED
    assert instance.get_run_by_id(queued.run_id).tags[tags.CANCELLED_BY] == "bob"
    with runtime.session() as session:
        event = session.scalar(select(ActivityEvent).where(ActivityEvent.action == actions.JOB_CANCELLED))
        assert (event.actor, event.run_id, event.entity_type) == ("bob", queued.run_id, "run")
        assert event.workspace_id is not None
        assert event.before == {"status": "queued"}

    with (
        runtime.session() as session,
        pytest.raises(runs.JobError, match="is cancelled; only queued or running"),
    ):
        runs.cancel_job(instance, session, queued.run_id, user="bob")
    done = report_job.execute_in_process(instance=instance, tags=_tags())
    with (
        runtime.session() as session,
        pytest.raises(runs.JobError, match="is completed; only queued or running"),
    ):
        runs.cancel_job(instance, session, done.run_id, user="bob")
    assert instance.get_run_by_id(done.run_id).status == DagsterRunStatus.SUCCESS


@pytest.fixture
def fresh_cli_runtime(lightfast_env: Settings) -> Iterator[None]:
    """The CLI caches its Runtime per process: rebuild it from this test's environment, drop it after."""
    get_runtime.cache_clear()
    yield
    get_runtime.cache_clear()


@pytest.mark.usefixtures("fresh_cli_runtime")
def test_cli_json_shapes_and_errors(instance: DagsterInstance) -> None:
    done = report_job.execute_in_process(instance=instance, tags=_tags())
    queued = instance.create_run_for_job(
        report_job, tags=_tags(), status=DagsterRunStatus.QUEUED, remote_job_origin=ORIGIN
    )

    def invoke(*args: str):
        return CliRunner().invoke(cli_app, ["jobs", *args])

    listed = invoke("list", "--json", "--limit", "1", "-w", "default")
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.stdout)
    assert set(page) == {"jobs", "next_cursor", "has_more"}
    assert [job["id"] for job in page["jobs"]] == [queued.run_id]
    assert page == {"jobs": page["jobs"], "next_cursor": queued.run_id, "has_more": True}
    second = json.loads(invoke(*["list", "--json", "--cursor", page["next_cursor"]]).stdout)
    assert [job["id"] for job in second["jobs"]] == [done.run_id]
    assert second["has_more"] is False

    got = json.loads(invoke("get", done.run_id, "--json").stdout)
    assert got["output"]["chunks_embedded"] == 7
    assert got["status"] == "completed"

    stats = json.loads(invoke("stats", "--json", "--hours", "1").stdout)
    assert stats["total"] == 2 and stats["success_rate"] == 100.0

    recent = json.loads(invoke("recent", "--json", "--limit", "5").stdout)
    assert [job["id"] for job in recent["jobs"]] == [queued.run_id, done.run_id]

    refused = invoke("cancel", done.run_id)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"error: job {done.run_id} is completed; only queued or running jobs can be cancelled"
    )
    cancelled = invoke("cancel", queued.run_id, "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    assert instance.get_run_by_id(queued.run_id).tags[tags.CANCELLED_BY] == "tester"

    for args in (["get", "nope"], ["list", "--status", "weird"], ["list", "--limit", "500"]):
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1


def test_error_of_a_run_failed_from_outside_explains_why(instance: DagsterInstance) -> None:
    """Run monitoring cancels then force-fails a stuck run: both messages make the error."""
    run = instance.create_run_for_job(report_job, tags=_tags(), status=DagsterRunStatus.STARTED)
    instance.report_run_canceling(run, message="Canceling due to exceeding maximum runtime of 15 seconds.")
    instance.report_run_failed(instance.get_run_by_id(run.run_id))

    detail = runs.get_job(instance, run.run_id)
    assert detail.job.status == runs.FAILED
    assert detail.error == (
        "Canceling due to exceeding maximum runtime of 15 seconds. "
        "This run has been marked as failed from outside the execution context."
    )


def test_run_indexes_are_created_once_used_and_change_no_figure(instance: DagsterInstance) -> None:
    """Our covering indexes on Dagster's run tables: created when missing (idempotent), chosen by the planner
    for the statistics query, and the statistics are equal with and without them."""
    now = datetime.now(UTC)
    for hours, status in [(1, DagsterRunStatus.SUCCESS), (2, DagsterRunStatus.FAILURE), (30, DagsterRunStatus.SUCCESS)]:
        _historical(instance, now - timedelta(hours=hours), status)
    report_job.execute_in_process(instance=instance, tags=_tags())
    before = [runs.statistics(instance, "default", timedelta(hours=h)).to_dict() for h in (24, 48)]

    assert missing_run_indexes(instance) == list(INDEXES)
    assert ensure_run_indexes(instance) == list(INDEXES)
    assert ensure_run_indexes(instance) == [] and missing_run_indexes(instance) == []
    assert [runs.statistics(instance, "default", timedelta(hours=h)).to_dict() for h in (24, 48)] == before

    with instance.run_storage.connect() as connection:
        query = runs.statistics_query("default", now - timedelta(hours=24))
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row) for row in connection.execute(sa.text(f"explain query plan {compiled}")))
    # SQLite: the range of the runs index, one seek in the tag index per run (PostgreSQL: benchmarks/jobs.py)
    assert "COVERING INDEX lightfast_runs_by_created" in plan and "COVERING INDEX lightfast_run_tags_by_value" in plan

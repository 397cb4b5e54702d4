"""The warehouse loader, writer and `lightfast stats` against a real Dagster instance and a real catalog.

Layer: runs are written into the Dagster run storage (``add_historical_run`` with a known creation time, then
run events with known timestamps, as the run worker reports them); catalog rows go through the ORM and
``record_metric``. The loader copies them into DuckDB incrementally and the dbt models (built by the dbt assets,
the only builder) answer the CLI, which runs the metrics job itself when the warehouse is stale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.utils import make_new_run_id
from typer.testing import CliRunner

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import (
    Document,
    Organization,
    Repository,
    Store,
    WebhookDelivery,
    Workspace,
)
from lightfast_pipeline.cli.app import app
from lightfast_pipeline.metrics import rollup
from lightfast_pipeline.metrics.freshness import PROJECT_HASH_CURSOR, models_current
from lightfast_pipeline.metrics.ranges import StatsRange
from lightfast_pipeline.metrics.record import record_metric
from lightfast_pipeline.metrics.refresh import load_into
from lightfast_pipeline.metrics.stats import read_models, read_stats
from lightfast_pipeline.metrics.writer import warehouse_writer, writer_busy
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from tests.support.warehouse import build_models

INGEST = "ingest_repository"


def add_run(
    instance: DagsterInstance,
    created: datetime,
    events: list[tuple[DagsterEventType, datetime]] = (),
    *,
    job_name: str = INGEST,
    workspace: str = "acme",
    repository: str = "uid-handbook",
    delivery: str | None = None,
) -> str:
    """A run created at ``created`` whose status then moves through ``events`` at their times."""
    run_tags = {
        tags.TRIGGER: "webhook" if delivery else "manual",
        tags.USER: "alice",
        tags.WORKSPACE: workspace,
    }
    run_tags[tags.REPOSITORY] = repository
    if delivery:
        run_tags[tags.DELIVERY] = delivery
    run = DagsterRun(job_name=job_name, run_id=make_new_run_id(), tags=run_tags, status=DagsterRunStatus.NOT_STARTED)
    instance.run_storage.add_historical_run(run, created)
    for event_type, at in events:
        advance(instance, run.run_id, event_type, at, job_name)
    return run.run_id


def advance(instance: DagsterInstance, run_id: str, event_type: DagsterEventType, at: datetime, job: str = INGEST):
    """Report one run event (start, success, failure, cancel) at a known time."""
    instance.run_storage.handle_run_event(run_id, DagsterEvent(event_type.value, job), update_timestamp=at)


def succeeded(start: datetime, ms: int) -> list[tuple[DagsterEventType, datetime]]:
    return [
        (DagsterEventType.PIPELINE_START, start),
        (DagsterEventType.PIPELINE_SUCCESS, start + timedelta(milliseconds=ms)),
    ]


def seed_catalog(runtime: Runtime) -> dict[str, int]:
    """One organisation, workspace ``acme`` with store ``docs`` and two repositories, three documents."""
    with runtime.session() as session:
        org = Organization(name="Acme", slug="acme")
        workspace = Workspace(organization=org, name="Acme", slug="acme", key="k-acme", is_default=True)
        store = Store(
            workspace=workspace,
            slug="docs",
            embedding_provider="test",
            embedding_model="hash",
            embedding_dimension=8,
            chunk_max_tokens=256,
            chunk_overlap=0,
            vector_backend="lancedb",
            namespace="acme-docs",
        )
        handbook = Repository(
            uid="uid-handbook",
            workspace=workspace,
            source_type="github",
            source_id="1",
            full_name="acme/handbook",
            store=store,
        )
        notes = Repository(
            uid="uid-notes",
            workspace=workspace,
            source_type="local",
            source_id="2",
            full_name="acme/notes",
            store=store,
        )
        session.add_all([org, workspace, store, handbook, notes])
        session.flush()
        for n in range(3):
            session.add(
                Document(
                    uid=f"doc{n}",
                    store_id=store.id,
                    repository_id=handbook.id,
                    path=f"docs/{n}.md",
                    blob_id=f"b{n}",
                    content_hash=f"c{n}",
                    config_hash="x",
                    title=f"Doc {n}",
                    chunk_count=n + 1,
                )
            )
        return {"workspace": workspace.id, "repository": handbook.id, "store": store.id}


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with the raw schema and the dbt models (views over the raw tables), built once by the dbt
    assets."""
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    build_models(path)
    return path


@pytest.fixture
def prebuilt(lightfast_env: Settings, template: Path) -> None:
    """Start from the built models (skips a dbt build)."""
    lightfast_env.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, lightfast_env.warehouse_path)


@pytest.fixture
def instance(lightfast_env: Settings) -> Iterator[DagsterInstance]:
    with DagsterInstance.get() as dagster_instance:
        yield dagster_instance


def load(settings: Settings, instance: DagsterInstance) -> dict[str, int]:
    """One raw load through the writer, as the ``warehouse_raw`` asset does it."""
    with warehouse_writer(settings.warehouse_path) as building:
        return load_into(building, instance, settings.database_url)


def raw(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_incremental_load_updates_unfinished_runs_and_deletions(
    lightfast_env: Settings, instance: DagsterInstance
) -> None:
    runtime = Runtime(lightfast_env)
    ids = seed_catalog(runtime)
    now = datetime.now(UTC).replace(microsecond=0)
    t = now - timedelta(hours=2)
    ok = add_run(instance, t, succeeded(t + timedelta(seconds=3), 2500))
    failed = add_run(
        instance,
        t,
        [(DagsterEventType.PIPELINE_START, t), (DagsterEventType.PIPELINE_FAILURE, t + timedelta(seconds=9))],
    )
    later = add_run(instance, t + timedelta(minutes=1))  # queued now, completes after the first load
    add_run(instance, t, [(DagsterEventType.PIPELINE_CANCELED, t + timedelta(seconds=1))])
    add_run(instance, t, succeeded(t, 10), job_name="refresh_warehouse")  # not an ingestion job
    with runtime.session() as session:
        record_metric(session, "query_latency", 12.5, workspace_id=ids["workspace"], at=t)
        session.add(WebhookDelivery(delivery_id="d-1", event="push", payload={}, received_at=t))

    first = load(lightfast_env, instance)
    assert first["runs"] == 5 and first["metric_points"] == 1 and first["documents"] == 3
    assert not models_current(lightfast_env.warehouse_path)  # a load never builds the models
    row = raw(
        lightfast_env,
        f"select status, dagster_status, trigger, user_name, workspace, repository_uid, "
        f"duration_ms, created_at, started_at from raw.runs where run_id = '{ok}'",
    )[0]
    assert row[:7] == ("completed", "SUCCESS", "manual", "alice", "acme", "uid-handbook", 2500)
    assert row[7] == t.replace(tzinfo=None) and row[8] == (t + timedelta(seconds=3)).replace(tzinfo=None)
    assert raw(lightfast_env, f"select status from raw.runs where run_id = '{failed}'") == [("failed",)]
    assert raw(lightfast_env, f"select status from raw.runs where run_id = '{later}'") == [("queued",)]

    # The queued run finishes, a new run and a point arrive, a document is deleted.
    start = now - timedelta(minutes=30)
    for event_type, at in succeeded(start, 4000):
        advance(instance, later, event_type, at)
    newest = add_run(instance, now - timedelta(minutes=5), succeeded(now - timedelta(minutes=5), 1000))
    with runtime.session() as session:
        record_metric(session, "query_latency", 30.0, workspace_id=ids["workspace"])
        session.delete(session.query(Document).filter_by(uid="doc0").one())

    second = load(lightfast_env, instance)
    assert second["runs"] == 2  # the re-checked unfinished run and the new one, nothing else
    assert second["documents"] < 3  # only rows updated at the cursor's instant are read again
    assert raw(lightfast_env, f"select status, duration_ms from raw.runs where run_id = '{later}'") == [
        ("completed", 4000)
    ]
    assert raw(lightfast_env, f"select count(*) from raw.runs where run_id = '{newest}'") == [(1,)]
    assert raw(lightfast_env, "select count(*) from raw.metric_points") == [(2,)]  # overlap re-read, no doubles
    assert raw(lightfast_env, "select count(*) from raw.documents") == [(2,)]


def rollup_rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * from raw.run_hours order by all").fetchall()


def test_incremental_rollup_equals_a_full_rollup_after_status_changes_and_deletions(
    lightfast_env: Settings, instance: DagsterInstance, tmp_path: Path
) -> None:
    """Runs rolled up while queued, then started, then finished; a new hour; a queued run deleted; a run without
    a workspace tag: after each load the incrementally kept ``raw.run_hours`` equals one rebuilt from scratch."""
    runtime = Runtime(lightfast_env)
    seed_catalog(runtime)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t = now - timedelta(hours=5)
    queued = [add_run(instance, t + timedelta(minutes=m)) for m in (0, 10, 59)]
    add_run(instance, t + timedelta(hours=1), succeeded(t + timedelta(hours=1), 1500))
    doomed = add_run(instance, t + timedelta(hours=2))
    add_run(instance, t, succeeded(t, 700), job_name="refresh_warehouse")

    def check() -> list[tuple]:
        kept = rollup_rows(lightfast_env.warehouse_path)
        copy = tmp_path / "rebuilt.duckdb"
        shutil.copyfile(lightfast_env.warehouse_path, copy)
        with duckdb.connect(str(copy)) as con:
            rollup.rebuild(con)
        assert kept == rollup_rows(copy)
        return kept

    load(lightfast_env, instance)
    first = check()
    assert [(row[0], row[4], row[5]) for row in first if row[1] == INGEST] == [
        (t.replace(tzinfo=None), "queued", 3),
        ((t + timedelta(hours=1)).replace(tzinfo=None), "completed", 1),
        ((t + timedelta(hours=2)).replace(tzinfo=None), "queued", 1),
    ]

    advance(instance, queued[0], DagsterEventType.PIPELINE_START, t + timedelta(minutes=1))
    advance(instance, queued[1], DagsterEventType.PIPELINE_START, t + timedelta(minutes=11))
    load(lightfast_env, instance)
    assert {(row[4], row[5]) for row in check() if row[0] == t.replace(tzinfo=None) and row[1] == INGEST} == {
        ("running", 2),
        ("queued", 1),
    }

    advance(instance, queued[0], DagsterEventType.PIPELINE_SUCCESS, t + timedelta(minutes=3))
    advance(instance, queued[1], DagsterEventType.PIPELINE_FAILURE, t + timedelta(minutes=12))
    for event_type, at in succeeded(t + timedelta(hours=1), 2500):
        advance(instance, queued[2], event_type, at)
    instance.delete_run(doomed)
    untagged = DagsterRun(job_name=INGEST, run_id=make_new_run_id(), tags={}, status=DagsterRunStatus.NOT_STARTED)
    instance.run_storage.add_historical_run(untagged, now - timedelta(minutes=20))
    for event_type, at in succeeded(now - timedelta(minutes=19), 900):
        advance(instance, untagged.run_id, event_type, at)
    loaded = load(lightfast_env, instance)
    assert loaded["run_hours"] == 3  # t (three runs changed), t + 2 h (deleted), the newest hour
    last = check()
    first_hour = [(row[4], row[5], row[7]) for row in last if row[1] == INGEST and row[0] == t.replace(tzinfo=None)]
    assert first_hour == [("completed", 2, 120_000 + 2500), ("failed", 1, 60_000)]
    assert not [row for row in last if row[0] == (t + timedelta(hours=2)).replace(tzinfo=None)]


def test_readers_never_wait_for_the_writer_and_the_writer_never_waits_for_readers(
    lightfast_env: Settings, instance: DagsterInstance, prebuilt: None
) -> None:
    runtime = Runtime(lightfast_env)
    seed_catalog(runtime)
    load(lightfast_env, instance)
    # an analyst's session in another process keeps a read-only connection open
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(lightfast_env.warehouse_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert analyst.stdout.readline().strip() == "0"
        add_run(instance, datetime.now(UTC), succeeded(datetime.now(UTC), 5))
        assert load(lightfast_env, instance)["runs"] == 1
        with warehouse_writer(lightfast_env.warehouse_path) as building:
            # while a writer builds, the live file stays readable and others can see it is busy without waiting
            assert building != lightfast_env.warehouse_path
            assert raw(lightfast_env, "select count(*) from raw.runs") == [(1,)]
            assert writer_busy(lightfast_env.warehouse_path)
        assert not writer_busy(lightfast_env.warehouse_path)
        assert analyst.poll() is None  # still reading its snapshot, never interrupted
    finally:
        analyst.kill()
        analyst.wait()


def test_a_process_reads_the_swapped_in_file_after_a_refresh(
    lightfast_env: Settings, instance: DagsterInstance, prebuilt: None
) -> None:
    """The reader keeps one attached warehouse per process: a session opened before a refresh keeps its
    snapshot, the next read after the writer swapped a new file in sees the new runs."""
    runtime = Runtime(lightfast_env)
    seed_catalog(runtime)
    now = datetime.now(UTC).replace(microsecond=0)
    add_run(instance, now - timedelta(hours=1), succeeded(now - timedelta(hours=1), 1000))
    load(lightfast_env, instance)
    window = StatsRange(now - timedelta(days=1), now + timedelta(minutes=1))
    assert read_stats(lightfast_env.warehouse_path, window)["jobs"]["total"] == 1
    with read_models(lightfast_env.warehouse_path, window) as before:
        add_run(instance, now - timedelta(minutes=5), succeeded(now - timedelta(minutes=5), 3000))
        load(lightfast_env, instance)
        assert read_stats(lightfast_env.warehouse_path, window)["jobs"]["total"] == 2
        assert before.execute("select total from job_stats").fetchall() == [(1,)]


ANALYST = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from raw.runs").fetchall()[0][0], flush=True)
time.sleep(60)
"""


def test_failed_refresh_leaves_the_warehouse_untouched(
    lightfast_env: Settings, instance: DagsterInstance, prebuilt: None
) -> None:
    runtime = Runtime(lightfast_env)
    seed_catalog(runtime)
    load(lightfast_env, instance)
    before = lightfast_env.warehouse_path.read_bytes()
    with (
        pytest.raises(RuntimeError, match="boom"),
        warehouse_writer(lightfast_env.warehouse_path) as building,
    ):
        with duckdb.connect(str(building)) as con:
            con.execute("delete from raw.repositories")
        raise RuntimeError("boom")
    assert lightfast_env.warehouse_path.read_bytes() == before
    assert [p.name for p in lightfast_env.home.iterdir() if p.name.endswith(".building")] == []


# ---- the CLI ---------------------------------------------------------------------------------------------

JOB_KEYS = {"total", "completed", "failed", "cancelled", "success_rate", "avg_duration_ms"}


def stats(*args: str) -> dict:
    result = CliRunner().invoke(app, ["stats", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_json_sections_and_fresh_runs(lightfast_env: Settings, instance: DagsterInstance, prebuilt: None) -> None:
    runtime = Runtime(lightfast_env)
    seed_catalog(runtime)
    now = datetime.now(UTC)
    add_run(instance, now - timedelta(hours=3), succeeded(now - timedelta(hours=3), 1000))
    add_run(instance, now - timedelta(hours=30), succeeded(now - timedelta(hours=30), 3000))  # previous period

    full = stats("--compare", "--percentiles", "--timeseries", "--health")
    assert metrics_runs(instance) == ["refresh_warehouse"]  # the models were current, the sources were not
    assert set(full) == {
        "range",
        "workspace",
        "jobs",
        "documents",
        "sources",
        "comparison",
        "percentiles",
        "timeseries",
        "health",
    }
    assert full["jobs"] == {
        "total": 1,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "success_rate": 100.0,
        "avg_duration_ms": 1000.0,
    }
    assert full["documents"] == {"total": 3, "chunks": 6}
    assert full["sources"] == {"total": 2, "by_type": {"github": 1, "local": 1}}
    assert set(full["comparison"]) == JOB_KEYS
    assert full["comparison"]["total"] == {"current": 1, "previous": 1, "change_pct": 0.0}
    assert full["comparison"]["avg_duration_ms"]["change_pct"] == pytest.approx(-66.67)
    assert full["percentiles"] == {
        "p50": 1000.0,
        "p95": 1000.0,
        "p99": 1000.0,
        "max": 1000.0,
        "sample_size": 1,
    }
    assert len(full["timeseries"]) in (24, 25)  # every hour the last 24 h touch
    assert set(full["timeseries"][0]) == {"hour", "jobs", "avg_duration_ms", "success_rate"}
    assert sum(h["jobs"] for h in full["timeseries"]) == 1
    assert full["health"] == {
        "workspace": "healthy",
        "stores": {"acme/docs": "healthy"},
        "sources": {"acme/acme/handbook": "healthy", "acme/acme/notes": "idle"},
    }
    assert stats("--workspace", "acme", "--health")["health"]["stores"] == {"docs": "healthy"}
    assert metrics_runs(instance) == ["refresh_warehouse"]  # nothing changed: no run, the models answer

    # a run that finished seconds ago is counted by the next call (incremental refresh before answering)
    fresh = add_run(instance, datetime.now(UTC))
    advance(instance, fresh, DagsterEventType.PIPELINE_START, datetime.now(UTC))
    advance(instance, fresh, DagsterEventType.PIPELINE_FAILURE, datetime.now(UTC))
    jobs = stats()["jobs"]
    assert (jobs["total"], jobs["failed"], jobs["success_rate"]) == (2, 1, 50.0)
    assert stats("--range", "7d")["jobs"]["total"] == 3
    day = (now - timedelta(hours=30)).date().isoformat()
    assert stats("--range", f"{day}..{day}", "--no-refresh")["range"]["from"] == f"{day}T00:00:00Z"
    assert metrics_runs(instance) == ["refresh_warehouse", "refresh_warehouse"]
    record = instance.get_run_records(RunsFilter(job_name="refresh_warehouse"), limit=1)[0]
    assert record.dagster_run.status == DagsterRunStatus.SUCCESS
    assert record.dagster_run.tags[tags.TRIGGER] == "manual" and record.dagster_run.tags[tags.USER] == "tester"


def test_cli_runs_the_rebuild_job_when_the_models_are_stale(
    lightfast_env: Settings, instance: DagsterInstance, prebuilt: None
) -> None:
    """A warehouse whose models belong to another version of the project (one view even missing)."""
    with duckdb.connect(str(lightfast_env.warehouse_path)) as con:
        con.execute("update raw.cursors set value = 'an older project' where name = ?", [PROJECT_HASH_CURSOR])
        con.execute("drop view job_stats")
    assert not models_current(lightfast_env.warehouse_path)
    add_run(instance, datetime.now(UTC), succeeded(datetime.now(UTC), 1500))

    assert stats()["jobs"]["total"] == 1
    assert metrics_runs(instance) == ["rebuild_metrics"]  # load, dbt build, metrics: the scheduled job
    assert models_current(lightfast_env.warehouse_path)
    assert stats()["jobs"]["total"] == 1 and metrics_runs(instance) == ["rebuild_metrics"]


def metrics_runs(instance: DagsterInstance) -> list[str]:
    """Job names of the metrics runs on the instance, oldest first."""
    names = [record.dagster_run.job_name for record in instance.get_run_records(ascending=True)]
    return [name for name in names if name in ("refresh_warehouse", "rebuild_metrics")]


def test_cli_rejects_bad_range_and_explains(lightfast_env: Settings) -> None:
    result = CliRunner().invoke(app, ["stats", "--range", "last week"])
    assert result.exit_code == 2
    assert "use 24h, 7d, 30d or FROM..TO" in result.output
    result = CliRunner().invoke(app, ["stats", "--range", "2026-02-01..2026-01-01"])
    assert result.exit_code == 2 and "ends before it starts" in result.output
    missing = CliRunner().invoke(app, ["stats", "--no-refresh"])
    assert missing.exit_code == 1 and "no warehouse" in missing.output


def test_cli_answers_from_the_last_refresh_while_a_writer_is_busy(
    lightfast_env: Settings, instance: DagsterInstance, prebuilt: None
) -> None:
    Runtime(lightfast_env)
    add_run(instance, datetime.now(UTC), succeeded(datetime.now(UTC), 7))
    assert stats()["jobs"]["total"] == 1
    add_run(instance, datetime.now(UTC), succeeded(datetime.now(UTC), 7))
    with warehouse_writer(lightfast_env.warehouse_path):
        result = CliRunner().invoke(app, ["stats"])
        assert result.exit_code == 0, result.output
        assert "refresh is in progress elsewhere" in result.output
        assert "total 1" in result.output  # the last refresh, immediately
    assert stats()["jobs"]["total"] == 2

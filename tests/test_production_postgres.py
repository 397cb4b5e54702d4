"""The production configuration on a real PostgreSQL server: catalog migrations, the deploy instance,
and the jobs API over PostgreSQL run storage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetMaterialization, DagsterInstance, DagsterRunStatus, Output, job, op
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from sqlalchemy import inspect, select

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.db import get_engine, is_migrated, migrate, session_scope
from lightfast_pipeline.catalog.models import Base, Workspace
from lightfast_pipeline.jobs.metrics import metrics_jobs
from lightfast_pipeline.runs import jobs as runs
from lightfast_pipeline.workspaces.workspace import get_or_create_organization
from tests.support.postgres import deploy_environment, write_deploy_instance

pytestmark = pytest.mark.postgres


@op
def count_documents():
    yield AssetMaterialization("documents", metadata={"documents_added": 4})
    yield Output(None)


@job
def count_job():
    count_documents()


def test_catalog_migrations_run_on_postgresql(postgres_url: str) -> None:
    assert not is_migrated(postgres_url)
    migrate(postgres_url)
    migrate(postgres_url)  # idempotent
    assert is_migrated(postgres_url)
    tables = set(inspect(get_engine(postgres_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables

    with session_scope(postgres_url) as session:
        get_or_create_organization(session)
    with session_scope(postgres_url) as session:
        workspace = session.scalar(select(Workspace).where(Workspace.is_default))
        assert workspace is not None and workspace.slug == "default"
    get_engine(postgres_url).dispose()


@pytest.fixture
def deploy_instance(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    """An instance built from deploy/dagster.yaml against a fresh PostgreSQL database."""
    for name, value in deploy_environment(postgres_url, max_concurrent_runs=3).items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster"
    write_deploy_instance(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        yield instance


def test_deploy_config_builds_the_production_instance(deploy_instance: DagsterInstance) -> None:
    assert isinstance(deploy_instance.run_storage, PostgresRunStorage)
    assert isinstance(deploy_instance.event_log_storage, PostgresEventLogStorage)
    assert "postgresql+psycopg2://" in deploy_instance.run_storage.postgres_url
    coordinator = deploy_instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    queue = coordinator.get_run_queue_config()
    assert queue.max_concurrent_runs == 3
    assert queue.tag_concurrency_limits == [
        {"key": tags.REPOSITORY, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        {"key": tags.WAREHOUSE, "limit": 1},
    ]
    assert (queue.max_user_code_failure_retries, queue.user_code_failure_retry_delay) == (3, 10)
    # The metrics jobs carry the warehouse tag and queue behind ingestion runs.
    for metrics_job in metrics_jobs:
        assert metrics_job.tags == {tags.WAREHOUSE: "write", "dagster/priority": "-1"}
    assert deploy_instance.run_monitoring_enabled
    assert deploy_instance.run_monitoring_start_timeout_seconds == 300
    assert deploy_instance.run_monitoring_max_runtime_seconds == 7200


def test_jobs_api_on_postgresql_run_storage(deploy_instance: DagsterInstance) -> None:
    run_tags = {tags.WORKSPACE: "default", tags.REPOSITORY: "r1", tags.TRIGGER: "manual", tags.USER: "u"}
    results = [count_job.execute_in_process(instance=deploy_instance, tags=run_tags) for _ in range(3)]

    first = runs.list_jobs(deploy_instance, "default", limit=2)
    rest = runs.list_jobs(deploy_instance, "default", limit=2, cursor=first.next_cursor)
    assert [job.id for job in first.jobs + rest.jobs] == [result.run_id for result in reversed(results)]
    assert (first.has_more, rest.has_more) == (True, False)

    detail = runs.get_job(deploy_instance, results[0].run_id)
    assert detail.output == {"documents_added": 4}
    assert detail.job.status == runs.COMPLETED

    stats = runs.statistics(deploy_instance, "default", timedelta(hours=1))
    assert stats.by_status[runs.COMPLETED] == 3
    assert stats.success_rate == 100.0
    durations = [runs.get_job(deploy_instance, result.run_id).job.duration_ms for result in results]
    assert stats.avg_duration_ms == pytest.approx(sum(durations) / 3, abs=1)
    assert deploy_instance.get_run_by_id(results[0].run_id).status == DagsterRunStatus.SUCCESS

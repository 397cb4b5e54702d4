"""Resources are the services: sensors and schedules use the resources they are given, never the environment."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import SensorResult, build_schedule_context, build_sensor_context

from lightfast_pipeline.catalog.models import SourceType
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.schedules.reconciliation import reconciliation_schedule
from lightfast_pipeline.sensors.repositories import repository_lifecycle_sensor
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.resources import sensor_resources

PACKAGE = Path(__file__).resolve().parent.parent / "lightfast_pipeline"
DAGSTER_CODE = ("assets", "sensors", "schedules", "jobs", "checks")
ENVIRONMENT_READERS = {"load_settings", "load_notify_settings", "load_github_settings", "environ", "getenv"}


@pytest.fixture
def other_catalog(lightfast_env: Settings, tmp_path: Path) -> Settings:
    """A second catalog (not the one the environment names) holding one connected, never-synced repository."""
    settings = replace(lightfast_env, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("onboarding.md", "# Onboarding\n\nA laptop and a mentor on day one.\n")
    repo.commit("handbook")
    connect_repository(
        Runtime(settings),
        workspace_name=None,
        source=LocalGitSource(repo.path),
        source_type=SourceType.LOCAL.value,
        location=str(repo.path),
        actor="tester",
    )
    return settings


def test_sensors_and_schedules_read_the_catalog_of_their_resource(
    lightfast_env: Settings, other_catalog: Settings
) -> None:
    instance = Runtime(lightfast_env).instance
    # the environment's catalog is empty: what the sensor finds comes from the resource it was given
    empty = build_sensor_context(instance=instance, resources=sensor_resources(lightfast_env))
    assert not isinstance(repository_lifecycle_sensor(empty), SensorResult)
    result = repository_lifecycle_sensor(
        build_sensor_context(instance=instance, resources=sensor_resources(other_catalog))
    )
    [request] = result.run_requests
    assert request.tags["lightfast/repository_name"] == "handbook"
    [scheduled] = reconciliation_schedule(
        build_schedule_context(
            instance=instance, scheduled_execution_time=datetime.now(UTC), resources=sensor_resources(other_catalog)
        )
    )
    assert scheduled.partition_key == request.partition_key


def _environment_readers(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in ENVIRONMENT_READERS:
                names.add(name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names if alias.name in ENVIRONMENT_READERS)
    return names


def test_dagster_code_reads_no_environment() -> None:
    """Assets, sensors, schedules, jobs and checks get settings and secrets from their resources only."""
    readers = {
        str(path.relative_to(PACKAGE)): found
        for folder in DAGSTER_CODE
        for path in sorted((PACKAGE / folder).glob("*.py"))
        if (found := _environment_readers(path))
    }
    assert readers == {}

"""Resources are the services: sensors and schedules use the resources they are given, never the environment."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import SensorResult, build_schedule_context, build_sensor_context
from sqlalchemy import select

from lightfast_pipeline.catalog.models import Repository, SourceType, Store
from lightfast_pipeline.resources import ingestion_resources, metrics_resources
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.schedules.reconciliation import reconciliation_schedule
from lightfast_pipeline.sensors.repositories import repository_lifecycle_sensor
from lightfast_pipeline.settings import Settings, load_project_settings
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import ingest
from tests.support.resources import HashingEmbedderResource, sensor_resources

PACKAGE = Path(__file__).resolve().parent.parent / "lightfast_pipeline"
DAGSTER_CODE = ("assets", "sensors", "schedules", "jobs", "checks")
ENVIRONMENT_READERS = {
    "load_settings",
    "load_project_settings",
    "load_notify_settings",
    "load_github_settings",
    "load_cohere_settings",
    "load_pinecone_settings",
    "environ",
    "getenv",
}
SECRETS = {
    "COHERE_API_KEY": "co-secret-value",
    "PINECONE_API_KEY": "pc-secret-value",
    "GITHUB_APP_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----secret-----END PRIVATE KEY-----",
    "GITHUB_WEBHOOK_SECRET": "webhook-secret-value",
    "GITHUB_WEBHOOK_SECRET_PREVIOUS": "previous-webhook-secret-value",
    "LIGHTFAST_NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/services/secret-token",
}


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


def test_resources_hold_secrets_by_name_only(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built from one settings object, every configured secret is an ``EnvVar``: the definitions (what the UI
    and the run records see) carry the variable's name, and a run resolves the value when it starts."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    project = load_project_settings()
    resources = {**ingestion_resources(project), **metrics_resources(project)}
    configs = {key: resource._convert_to_config_dictionary() for key, resource in resources.items()}
    bound = {
        config[field]["env"]
        for config in configs.values()
        for field in config
        if isinstance(config[field], dict) and "env" in config[field]
    }
    assert bound == set(SECRETS)
    assert not [value for value in SECRETS.values() if value in repr(configs) + repr(resources)]
    github = resources["github"].process_config_and_initialize().github_settings()
    assert github.private_key == SECRETS["GITHUB_APP_PRIVATE_KEY"]
    assert github.webhook_secrets == (SECRETS["GITHUB_WEBHOOK_SECRET"], SECRETS["GITHUB_WEBHOOK_SECRET_PREVIOUS"])


def test_unconfigured_secrets_are_not_bound(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret that is not configured stays unset (an unset ``EnvVar`` would fail every run at start)."""
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    project = load_project_settings()
    resources = {**ingestion_resources(project), **metrics_resources(project)}
    assert not [key for key, resource in resources.items() if "env" in repr(resource._convert_to_config_dictionary())]


def test_the_job_embeds_with_the_resource_it_is_given(
    lightfast_env: Settings, other_catalog: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment names a 256-dimension model; the run is given the 384-dimension hashing resource and
    embeds with that one."""
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "tests.support.embedders:Hashing256Embedder")
    runtime = Runtime(other_catalog)
    with runtime.session() as session:
        repository_id = session.scalar(select(Repository.id))
    outcome = ingest(runtime, repository_id)
    assert outcome.status == "completed", outcome.error
    with runtime.session() as session:
        assert session.execute(select(Store.embedding_model, Store.embedding_dimension)).all() == [("hashing-384", 384)]
    outcome = ingest(runtime, repository_id, embedder=HashingEmbedderResource(dimension=256))
    assert outcome.status == "failed" and "holds hashing-384 vectors" in outcome.error

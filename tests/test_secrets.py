"""Issue 14 item 6: with known secret values in the environment, a whole flow (signed delivery, sensor, run
with Cohere and Pinecone on their local servers, search, a failed run) leaves them in no file of the state
directory, no Dagster event and no log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter, build_sensor_context
from starlette.testclient import TestClient

from lightfast_pipeline.github.connect import connect_github_repository
from lightfast_pipeline.runs.launch import run_in_process
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.query import search
from lightfast_pipeline.sensors.github import github_deliveries_sensor
from lightfast_pipeline.sensors.repositories import repository_lifecycle_sensor
from lightfast_pipeline.settings import Settings, load_settings
from lightfast_pipeline.webhooks import WEBHOOK_PATH, create_app
from tests.support.fake_cohere import FakeCohere
from tests.support.fake_pinecone import FakePinecone
from tests.support.github_fixtures import GitHubApp, GitRepo, delivery_headers, encode, load_webhook, retarget
from tests.support.gitrepo import DEFAULT_CONFIG
from tests.support.resources import sensor_resources

COHERE_KEY = "co-SECRET-cohere-4f1d9a"
PINECONE_KEY = "pc-SECRET-pinecone-77c2e0"
NOTIFY_URL_TOKEN = "T00000000/B00000000/SECRETnotifytoken"
FULL_NAME = "acme/secrets"
REPO_ID = 424242


@pytest.fixture
def providers() -> Iterator[tuple[FakeCohere, FakePinecone]]:
    cohere, pinecone = FakeCohere(COHERE_KEY), FakePinecone(PINECONE_KEY, dimension=1024)
    yield cohere, pinecone
    cohere.close()
    pinecone.close()


def _secret_values(github_app: GitHubApp) -> dict[str, str]:
    key_lines = [line for line in github_app.private_key.splitlines() if line and not line.startswith("-----")]
    return {
        "cohere key": COHERE_KEY,
        "pinecone key": PINECONE_KEY,
        "webhook secret": github_app.env["GITHUB_WEBHOOK_SECRET"],
        "app key (a line of its PEM)": key_lines[len(key_lines) // 2],
        "notification token": NOTIFY_URL_TOKEN,
    }


def _files_containing(root: Path, secrets: dict[str, str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket():
            data = path.read_bytes()
            found.extend(f"{name} in {path}" for name, value in secrets.items() if value.encode() in data)
    return found


def test_no_secret_reaches_a_file_an_event_or_a_log(
    lightfast_env: Settings,
    github_app: GitHubApp,
    providers: tuple[FakeCohere, FakePinecone],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    cohere, pinecone = providers
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "cohere")
    monkeypatch.setenv("LIGHTFAST_EMBEDDING_MODEL", "embed-english-v3.0")
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.setenv("COHERE_BASE_URL", cohere.url)
    monkeypatch.setenv("LIGHTFAST_VECTOR_BACKEND", "pinecone")
    monkeypatch.setenv("PINECONE_API_KEY", PINECONE_KEY)
    monkeypatch.setenv("PINECONE_INDEX_HOST", pinecone.url)
    monkeypatch.setenv("LIGHTFAST_NOTIFY_WEBHOOK_URL", f"http://127.0.0.1:9/services/{NOTIFY_URL_TOKEN}")
    caplog.set_level(logging.DEBUG)
    secrets = _secret_values(github_app)

    git = GitRepo(tmp_path / "secrets-repo")
    git.commit({"lightfast.yml": DEFAULT_CONFIG, "docs/vault.md": "# Vault\n\nWhere the keys are kept.\n"})
    github_app.server.add_repository(FULL_NAME, git.path, repo_id=REPO_ID, installation_id=1)
    runtime = Runtime(load_settings())
    instance: DagsterInstance = runtime.instance
    resources = sensor_resources(runtime.settings)
    connect_github_repository(runtime, FULL_NAME, None, None, "alice")
    (initial,) = repository_lifecycle_sensor(build_sensor_context(instance=instance, resources=resources)).run_requests
    assert run_in_process(instance, {**initial.tags, "dagster/partition": initial.partition_key}).status == "completed"

    before = git.head()
    git.commit({"docs/safe.md": "# Safe\n\nA combination lock.\n"})
    payload = retarget(load_webhook("push.modified.json"), repo_id=REPO_ID, full_name=FULL_NAME)
    payload.update(ref="refs/heads/main", before=before, after=git.head())
    body = encode(payload)
    with TestClient(create_app(runtime)) as client:
        assert client.post(WEBHOOK_PATH, content=body, headers=delivery_headers("push", body)).status_code == 202
    (push,) = github_deliveries_sensor(build_sensor_context(instance=instance, resources=resources)).run_requests
    pinecone.fail_next(100, 503)  # this run fails: its error goes to the run's events and the activity log
    failed = run_in_process(instance, {**push.tags, "dagster/partition": push.partition_key})
    assert failed.status == "failed"
    pinecone._failures.clear()
    assert run_in_process(instance, {**push.tags, "dagster/partition": push.partition_key}).status == "completed"
    hits = search(runtime, "combination lock", None, top_k=3).results  # the fake's vectors carry no meaning
    assert {hit.path for hit in hits} == {"docs/vault.md", "docs/safe.md"}

    leaks = _files_containing(lightfast_env.home, secrets)
    for record in instance.get_run_records(RunsFilter()):
        for event in instance.all_logs(record.dagster_run.run_id):
            text = str(event)
            run = record.dagster_run.run_id[:8]
            leaks.extend(f"{name} in an event of run {run}" for name, value in secrets.items() if value in text)
    logged = caplog.text + "".join(capfd.readouterr())
    leaks.extend(f"{name} in the logs" for name, value in secrets.items() if value in logged)
    assert leaks == []

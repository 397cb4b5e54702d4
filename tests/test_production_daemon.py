"""The production setup for real: deploy/dagster.yaml on PostgreSQL (catalog in a second database of the same
server), the Dagster daemon and webserver as subprocesses, every run going through the queue.

One deployment serves the module's tests. Three code locations: this file's ``defs`` (a ``nap`` job that
sleeps and reports its pid, so runs can be watched queued, running, cancelled, killed and stuck; submitted
through GraphQL as the UI does) and the two of deploy/workspace.yaml: ``lightfast_pipeline.definitions``
(ingestion job and sensors; runs come from GraphQL, or from GitHub deliveries POSTed to the real webhook
receiver and turned into runs by the daemon's delivery sensor) and ``lightfast_pipeline.metrics_definitions``
(warehouse, notifications, and the time-to-searchable sensor that watches the ingestion location's runs).
deploy/dagster.yaml is used as is except the monitoring poll interval (5 s); the stuck run carries a short
``dagster/max_runtime_seconds`` tag.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    in_process_executor,
    job,
    op,
)
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url
from starlette.testclient import TestClient

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.db import get_engine
from lightfast_pipeline.catalog.models import IngestJournal, MetricPoint, Repository, RepositoryLease
from lightfast_pipeline.github.connect import connect_github_repository
from lightfast_pipeline.jobs.ingestion import AUTOMATIC_RETRIES, head_read
from lightfast_pipeline.runs import jobs as runs
from lightfast_pipeline.runs.launch import ingestion_tags
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_settings
from lightfast_pipeline.webhooks import WEBHOOK_PATH, create_app
from lightfast_pipeline.workspaces.workspace import get_or_create_organization
from tests.conftest import FIXTURES, TEST_EMBEDDER
from tests.support.fleet import free_port, stop_process_group
from tests.support.github_fixtures import (
    APP_ID,
    GitHubApp,
    app_key_pair,
    delivery_headers,
    encode,
    load_webhook,
    retarget,
)
from tests.support.github_fixtures import GitRepo as GitHubRepo
from tests.support.github_server import GitHubServer
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, document_paths
from tests.support.postgres import DEPLOY_DIR, create_database, deploy_environment, drop_database, write_deploy_instance

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.shared_fixtures]

LOCATION = "production_test"
LIGHTFAST = "lightfast_pipeline"
NAP_WORKSPACE = "nap"  # the nap runs' own workspace tag: their counts are exact
WORKSPACE = "default"  # the catalog's default workspace (connected repositories)


@op(config_schema={"seconds": float, "pid_dir": str})
def nap(context) -> None:
    """Sleep ``seconds`` in small steps (so cancellation is prompt), after writing the run worker's pid; a retry
    of a run (Dagster's run retries) sleeps one second: the tests only wait for it to succeed."""
    Path(context.op_config["pid_dir"], f"{context.run_id}.pid").write_text(str(os.getpid()))
    seconds = 1.0 if "dagster/retry_number" in context.run.tags else context.op_config["seconds"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)


@job(executor_def=in_process_executor)
def nap_job() -> None:
    nap()


defs = Definitions(jobs=[nap_job])


@dataclass
class Deployment:
    """Handles on the running deployment."""

    instance: DagsterInstance
    graphql_url: str
    pid_dir: Path
    runtime: Runtime

    def submit(self, repository: str, seconds: float, **extra_tags: str) -> str:
        """Submit a nap run of ``repository`` through GraphQL (as the UI does); it enters the queue."""
        run_tags = {
            tags.WORKSPACE: NAP_WORKSPACE,
            tags.REPOSITORY: repository,
            tags.TRIGGER: "manual",
            tags.USER: "tester",
            **extra_tags,
        }
        config = {"ops": {"nap": {"config": {"seconds": seconds, "pid_dir": str(self.pid_dir)}}}}
        return self.launch(LOCATION, "nap_job", run_tags, config)

    def launch(self, location: str, job_name: str, run_tags: dict[str, str], run_config: dict) -> str:
        """The GraphQL ``launchRun`` mutation; returns the new run's id."""
        variables = {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": "__repository__",
                    "jobName": job_name,
                },
                "runConfigData": run_config,
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in run_tags.items()]},
            }
        }
        data = self.graphql(LAUNCH_RUN, variables)["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """POST a GraphQL query to the webserver."""
        response = requests.post(self.graphql_url, json={"query": query, "variables": variables or {}}, timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def status(self, run_id: str) -> DagsterRunStatus:
        """The run's current Dagster status."""
        return self.instance.get_run_by_id(run_id).status

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``predicate`` every half second until true, or fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

LOCATIONS_QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""

RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status jobName startTime endTime tags { key value } } }
  }
}
"""


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a Dagster process in its own session (so it and its code servers stop together)."""
    handle = log.open("wb")
    return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def _deploy(
    postgres_server: URL, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """Daemon + webserver on deploy/dagster.yaml; Dagster storage and catalog on one PostgreSQL server.

    The processes get this process's environment (set what they need before entering)."""
    catalog_name = f"catalog_{make_url(postgres_url).database}"
    catalog_url = create_database(postgres_server, catalog_name).render_as_string(hide_password=False)
    home = tmp_path / "dagster"
    write_deploy_instance(home, run_monitoring={"poll_interval_seconds": 5})
    workspace_file = tmp_path / "workspace.yaml"
    workspace_file.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_file": {
                            "relative_path": __file__,
                            "attribute": "defs",
                            "location_name": LOCATION,
                        }
                    },
                    *yaml.safe_load((DEPLOY_DIR / "workspace.yaml").read_text())["load_from"],
                ]
            }
        )
    )
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    env_vars = {
        **deploy_environment(postgres_url, max_concurrent_runs=6),
        "DAGSTER_HOME": str(home),
        "LIGHTFAST_HOME": str(tmp_path / "lightfast"),
        "LIGHTFAST_DATABASE_URL": catalog_url,
        "LIGHTFAST_USER": "operator",
        "LIGHTFAST_EMBEDDER": TEST_EMBEDDER,
        "LIGHTFAST_VECTOR_BACKEND": "lancedb",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ}
    bindir = Path(sys.executable).parent
    port = free_port()
    webserver = _start(
        [str(bindir / "dagster-webserver"), "-w", str(workspace_file), "-h", "127.0.0.1", "-p", str(port)],
        env,
        tmp_path / "webserver.log",
    )
    daemon = _start([str(bindir / "dagster-daemon"), "run", "-w", str(workspace_file)], env, tmp_path / "daemon.log")
    runtime = Runtime(load_settings())
    with runtime.session() as session:
        get_or_create_organization(session)
    try:
        with DagsterInstance.get() as instance:
            result = Deployment(instance, f"http://127.0.0.1:{port}/graphql", pid_dir, runtime)
            result.wait(lambda: _up(port), 240, "the webserver")  # it starts 3 code servers first
            result.wait(lambda: _locations_loaded(result), 120, "the code locations to load")
            yield result
    finally:
        stop_process_group(daemon)
        stop_process_group(webserver)
        get_engine(catalog_url).dispose()
        drop_database(postgres_server, catalog_name)


@pytest.fixture(scope="module")
def deployment(
    postgres_server: URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployment, GitHubApp]]:
    """One production deployment for this module's tests (starting one takes ~30 s), with the local GitHub App
    configured as GitHub would be in production."""
    private, public = app_key_pair()
    server = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    github = GitHubApp(server=server, private_key=private)
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = create_database(postgres_server, name).render_as_string(hide_password=False)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            for variable, value in github.env.items():
                monkeypatch.setenv(variable, value)
            monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY_PATH", raising=False)
            monkeypatch.delenv("GITHUB_WEBHOOK_SECRET_PREVIOUS", raising=False)
            with _deploy(postgres_server, url, tmp_path_factory.mktemp("deployment"), monkeypatch) as result:
                yield result, github
    finally:
        server.stop()
        drop_database(postgres_server, name)


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _locations_loaded(deployment: Deployment) -> bool:
    """True once every code location loaded; a location that failed to load fails the test with its error."""
    entries = deployment.graphql(LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        loaded = entry["locationOrLoadError"]
        if loaded and loaded["__typename"] == "PythonError":
            pytest.fail(f"code location {entry['name']} failed to load: {loaded['message']}")
    return len(entries) == 3 and all(entry["loadStatus"] == "LOADED" for entry in entries)


def _finished(deployment: Deployment, run_ids: list[str]) -> Callable[[], bool]:
    return lambda: all(deployment.instance.get_run_by_id(run_id).is_finished for run_id in run_ids)


def test_queue_cancellation_monitoring_and_jobs_agree_with_graphql(deployment: tuple[Deployment, GitHubApp]) -> None:
    d, _ = deployment
    a1 = d.submit("repo-a", 12)
    b1 = d.submit("repo-b", 12)
    c1 = d.submit("repo-c", 120)
    k1 = d.submit("repo-k", 600)
    s1 = d.submit("repo-s", 600, **{"dagster/max_runtime_seconds": "15"})
    a2 = d.submit("repo-a", 4)
    c2 = d.submit("repo-c", 120)

    # A queued run is cancelled while its repository's other run holds the slot; it never starts.
    d.wait(lambda: d.status(c1) == DagsterRunStatus.STARTED, 90, "the first repo-c run to start")
    assert d.status(c2) == DagsterRunStatus.QUEUED
    with d.runtime.session() as session:
        assert runs.cancel_job(d.instance, session, c2, user="operator").status == runs.CANCELLED
    # A running run is cancelled through the run coordinator: the run worker really stops.
    d.wait(lambda: (d.pid_dir / f"{c1}.pid").exists(), 30, "the repo-c run worker")
    with d.runtime.session() as session:
        runs.cancel_job(d.instance, session, c1, user="operator")
    d.wait(lambda: d.status(c1) == DagsterRunStatus.CANCELED, 60, "the running repo-c run to be cancelled")
    worker = int((d.pid_dir / f"{c1}.pid").read_text())
    d.wait(lambda: not _alive(worker), 30, "the cancelled run worker to exit")

    # A run worker killed with SIGKILL is failed (its code server reports the signal); a stuck one (SIGSTOP)
    # is failed by run monitoring once it exceeds its maximum runtime.
    d.wait(lambda: (d.pid_dir / f"{k1}.pid").exists(), 90, "the repo-k run worker")
    os.kill(int((d.pid_dir / f"{k1}.pid").read_text()), signal.SIGKILL)
    k2 = d.submit("repo-k", 1)
    d.wait(lambda: (d.pid_dir / f"{s1}.pid").exists(), 90, "the repo-s run worker")
    stuck = int((d.pid_dir / f"{s1}.pid").read_text())
    os.kill(stuck, signal.SIGSTOP)

    d.wait(_finished(d, [a1, a2, b1]), 120, "the repo-a and repo-b runs")
    a1_job, a2_job, b1_job = (runs.get_job(d.instance, run_id).job for run_id in (a1, a2, b1))
    assert {a1_job.status, a2_job.status, b1_job.status} == {runs.COMPLETED}
    # Same repository: strictly one after another. Different repositories: overlapping.
    first, second = sorted((a1_job, a2_job), key=lambda job: job.started_at)
    assert second.started_at >= first.completed_at
    assert b1_job.started_at < a1_job.completed_at and a1_job.started_at < b1_job.completed_at

    d.wait(lambda: d.status(k1) == DagsterRunStatus.FAILURE, 60, "the killed run to be failed")
    killed = runs.get_job(d.instance, k1)
    assert killed.job.status == runs.FAILED
    assert "signal 9 (SIGKILL)" in (killed.error or ""), killed.error
    d.wait(lambda: d.status(s1) == DagsterRunStatus.FAILURE, 90, "run monitoring to fail the stuck run")
    os.kill(stuck, signal.SIGKILL)
    hung = runs.get_job(d.instance, s1)
    assert "exceeding maximum runtime of 15 seconds" in (hung.error or ""), hung.error
    assert hung.job.duration_ms >= 15_000
    d.wait(_finished(d, [k2]), 60, "the next repo-k run")
    assert d.status(k2) == DagsterRunStatus.SUCCESS  # the repository is not left blocked

    # Cancelled runs stay cancelled: c2 was never launched, c1 did not come back.
    time.sleep(6)  # longer than one dequeue interval
    for run_id in (c1, c2):
        assert d.status(run_id) == DagsterRunStatus.CANCELED
        assert d.instance.get_run_by_id(run_id).tags[tags.CANCELLED_BY] == "operator"
    assert runs.get_job(d.instance, c2).job.started_at is None

    # The jobs API and the UI's GraphQL agree on every run.
    ui = d.graphql(RUNS_QUERY, {"filter": {"tags": [{"key": tags.WORKSPACE, "value": NAP_WORKSPACE}]}})
    ui_runs = ui["runsOrError"]["results"]
    page = runs.list_jobs(d.instance, NAP_WORKSPACE, limit=100)
    assert [listed.id for listed in page.jobs] == [run["runId"] for run in ui_runs]
    for listed, ui_run in zip(page.jobs, ui_runs, strict=True):
        assert listed.status == runs.job_status(DagsterRunStatus(ui_run["status"]))
        ui_tags = {tag["key"]: tag["value"] for tag in ui_run["tags"]}
        assert (listed.repository, listed.trigger, listed.user) == (
            ui_tags[tags.REPOSITORY],
            ui_tags[tags.TRIGGER],
            ui_tags[tags.USER],
        )
        if listed.started_at is None:  # never started: the UI shows its end time as start time
            assert ui_run["startTime"] in (None, ui_run["endTime"])
        else:
            assert listed.started_at.timestamp() == pytest.approx(ui_run["startTime"], abs=0.001)
        if listed.completed_at is not None:
            assert listed.completed_at.timestamp() == pytest.approx(ui_run["endTime"], abs=0.001)
    stats = runs.statistics(d.instance, NAP_WORKSPACE, timedelta(hours=1))
    assert stats.by_status == {"queued": 0, "running": 0, "completed": 4, "failed": 2, "cancelled": 2}
    assert stats.success_rate == 66.67


def test_runs_that_ask_for_retries_are_started_again_after_a_crash_and_others_are_not(
    deployment: tuple[Deployment, GitHubApp],
) -> None:
    """deploy/dagster.yaml enables Dagster's run retries for the runs that ask (sensors' and schedules' ingestion
    runs, ``AUTOMATIC_RETRIES``): a killed run worker is followed by a retry; a run without the tags is not."""
    d, _ = deployment
    workspace = {tags.WORKSPACE: "retries"}
    asking = d.submit("repo-retry", 120, **workspace, **AUTOMATIC_RETRIES)
    plain = d.submit("repo-plain", 120, **workspace)
    for run_id in (asking, plain):
        # A launch can miss the code server's 60 s deadline on a loaded machine and go back to the queue.
        d.wait(lambda run_id=run_id: (d.pid_dir / f"{run_id}.pid").exists(), 300, f"the run worker of {run_id}")
        os.kill(int((d.pid_dir / f"{run_id}.pid").read_text()), signal.SIGKILL)

    def retry_of(run_id: str) -> DagsterRun | None:
        children = d.instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return children[0] if children else None

    d.wait(lambda: retry_of(asking) is not None, 300, "the retry of the killed run that asked for retries")
    retry = retry_of(asking)
    assert retry.tags["dagster/retry_number"] == "1" and retry.tags[tags.REPOSITORY] == "repo-retry"
    d.wait(
        lambda: d.instance.get_run_by_id(plain).tags.get("dagster/will_retry") == "false",
        300,
        "the retry daemon to decide on the run that did not ask",
    )
    assert retry_of(plain) is None
    d.wait(_finished(d, [retry.run_id]), 300, "the retry to finish")
    assert d.status(retry.run_id) == DagsterRunStatus.SUCCESS  # the retry's nap is short: it ends on its own


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_killed_ingestion_run_is_failed_and_the_next_queued_run_converges(
    deployment: tuple[Deployment, GitHubApp], tmp_path: Path
) -> None:
    d, _ = deployment
    repo = GitRepo(tmp_path / "docs")
    repo.copy_tree(FIXTURES / "corpus-small" / "docs" / "development", "docs/development")
    repo.write("lightfast.yml", 'version: 1\nstore: docs\ninclude:\n  - "docs/**/*.md"\n')
    repo.commit("docs")
    connected = subprocess.run(
        [sys.executable, "-m", "lightfast_pipeline.cli", "repo", "connect", str(repo.path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert connected.returncode == 0, connected.stderr
    with d.runtime.session() as session:
        repository = session.scalar(select(Repository).order_by(Repository.id.desc()).limit(1))
        run_tags = ingestion_tags(
            trigger="manual",
            user="tester",
            workspace_slug=repository.workspace.slug,
            repository_uid=repository.uid,
            repository_name=repository.full_name,
        )
        repository_id = repository.id

    def journaled() -> int:
        with d.runtime.session() as session:
            return session.scalar(select(func.count()).select_from(IngestJournal))

    # Kill the run worker inside its commit window: after it journaled the ids it will write, before it ends.
    # The holder may be this run or the initial sync the lifecycle sensor requested: the lease names it.
    submitted = d.launch(LIGHTFAST, "ingest_repository", run_tags, {})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not journaled() and not d.instance.get_run_by_id(submitted).is_finished:
        time.sleep(0.01)
    assert journaled(), "the run finished before the test could kill it inside its commit window"
    with d.runtime.session() as session:
        lease = session.get(RepositoryLease, repository_id)
        victim, worker = lease.holder, lease.pid
    os.kill(worker, signal.SIGKILL)
    d.wait(lambda: d.status(victim) == DagsterRunStatus.FAILURE, 60, "the killed ingestion run to be failed")
    assert "SIGKILL" in (runs.get_job(d.instance, victim).error or "")

    rerun = d.launch(LIGHTFAST, "ingest_repository", run_tags, {})
    d.wait(_finished(d, [submitted, rerun]), 240, "the next ingestion runs")
    detail = runs.get_job(d.instance, rerun)
    assert detail.job.status == runs.COMPLETED, detail.error
    assert journaled() == 0
    files = len(list((repo.path / "docs").rglob("*.md")))
    assert len(document_paths(d.runtime, repository_id)) == files
    assert assert_store_equals_ledger(d.runtime, repository_id) > 0
    assert detail.output["documents_added"] + detail.output["documents_unchanged"] == files
    assert detail.job.repository == repository.uid and detail.job.trigger == "manual"


FULL_NAME = "acme/handbook"
REPO_ID = 777001


def _webhook_run(d: Deployment, delivery_id: str) -> str | None:
    """The run a delivery caused (tagged with its delivery id), once the sensor has requested it."""
    records = d.instance.get_run_records(RunsFilter(tags={tags.DELIVERY: delivery_id}), limit=1)
    return records[0].dagster_run.run_id if records else None


def test_webhook_pushes_reach_the_daemon_and_run_one_after_another(
    deployment: tuple[Deployment, GitHubApp], tmp_path: Path
) -> None:
    d, github = deployment
    git = GitHubRepo(tmp_path / "handbook")
    first = git.commit({"lightfast.yml": DEFAULT_CONFIG, "docs/windows.md": "# Windows\n\nWindow frames.\n"})
    github.server.add_repository(FULL_NAME, git.path, repo_id=REPO_ID, installation_id=1)
    uid = connect_github_repository(d.runtime, FULL_NAME, None, None, "alice").uid

    # The lifecycle sensor (in the daemon) requests the initial sync; it goes through the queue.
    def initial() -> list[runs.Job]:
        return runs.list_jobs(d.instance, WORKSPACE, repository=uid, trigger="automatic").jobs

    d.wait(lambda: bool(initial()) and initial()[0].status == runs.COMPLETED, 180, "the initial sync")

    def push(before: str, after: str) -> str:
        payload = retarget(load_webhook("push.modified.json"), repo_id=REPO_ID, full_name=FULL_NAME)
        payload.update(ref="refs/heads/main", before=before, after=after)
        body = encode(payload)
        headers = delivery_headers("push", body)
        assert client.post(WEBHOOK_PATH, content=body, headers=headers).status_code == 202
        return headers["X-GitHub-Delivery"]

    with TestClient(create_app(d.runtime)) as client:
        second = git.commit({"docs/menus.md": "# Menus\n\nApplication menus.\n"})
        first_delivery = push(first, second)
        d.wait(lambda: _webhook_run(d, first_delivery) is not None, 120, "the first push's run")
        run1 = _webhook_run(d, first_delivery)
        # A run absorbs later pushes until it has read the head (it would index them): push once it has read
        # the first push's head, so the second push needs a run of its own.
        d.wait(lambda: head_read(d.instance, run1) == second, 120, "the first push's run to read its head")
        third = git.commit({"docs/dialogs.md": "# Dialogs\n\nFile dialogs.\n"})
        second_delivery = push(second, third)
        d.wait(lambda: _webhook_run(d, second_delivery) is not None, 120, "the second push's run")
    run2 = _webhook_run(d, second_delivery)
    d.wait(_finished(d, [run1, run2]), 180, "both push runs")

    job1, job2 = (runs.get_job(d.instance, run_id) for run_id in (run1, run2))
    assert (job1.job.status, job2.job.status) == (runs.COMPLETED, runs.COMPLETED)
    assert (job1.job.trigger, job2.job.trigger) == ("webhook", "webhook")
    assert job2.job.started_at >= job1.job.completed_at  # same repository: one after another
    assert job1.input["tags"][tags.DELIVERY] == first_delivery
    # Each run indexes the head it finds: the two new files arrive in the first run or the second, once.
    assert job1.output["documents_added"] + job2.output["documents_added"] == 2
    with d.runtime.session() as session:
        repository_id = session.scalar(select(Repository.id).where(Repository.uid == uid))
    assert set(document_paths(d.runtime, repository_id)) == {"docs/windows.md", "docs/menus.md", "docs/dialogs.md"}
    assert_store_equals_ledger(d.runtime, repository_id)
    webhook_jobs = runs.list_jobs(d.instance, WORKSPACE, repository=uid, trigger="webhook").jobs
    assert [job.id for job in webhook_jobs] == [run2, run1]

    # The metrics location's run-status sensor sees the ingestion location's runs: one point per delivery.
    def searchable() -> dict[str, float]:
        with d.runtime.session() as session:
            points = session.scalars(select(MetricPoint).where(MetricPoint.type == "time_to_searchable")).all()
            return {p.tags["delivery"]: p.value for p in points if p.tags["run_id"] in (run1, run2)}

    d.wait(lambda: len(searchable()) == 2, 120, "time_to_searchable points of both deliveries")
    assert set(searchable()) == {first_delivery, second_delivery}
    assert all(value > 0 for value in searchable().values())


def test_cli_ingest_goes_through_the_run_queue(deployment: tuple[Deployment, GitHubApp], tmp_path: Path) -> None:
    """With a daemon serving the queue, `lightfast ingest` submits like the UI and waits; it never bypasses it."""
    d, _ = deployment
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("oncall.md", "# On-call\n\nThe pager rotates weekly between backend engineers.\n")
    repo.commit("handbook")
    env = {**os.environ, "LIGHTFAST_DAGSTER_UI_URL": d.graphql_url.removesuffix("/graphql")}
    cli = [sys.executable, "-m", "lightfast_pipeline.cli"]
    connected = subprocess.run([*cli, "repo", "connect", str(repo.path)], capture_output=True, text=True, env=env)
    assert connected.returncode == 0, connected.stderr
    ingested = subprocess.run(
        [*cli, "ingest", str(repo.path), "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert summary["status"] == "completed"
    # The daemon's lifecycle sensor may have run the initial sync of the new repository first.
    assert summary["documents"]["added"] + summary["documents"]["unchanged"] == 1
    events = {
        record.dagster_event.event_type_value
        for record in d.instance.all_logs(summary["run_id"])
        if record.is_dagster_event
    }
    assert "PIPELINE_ENQUEUED" in events or "RUN_ENQUEUED" in events
    detail = runs.get_job(d.instance, summary["run_id"])
    assert (detail.job.trigger, detail.job.user) == ("manual", "operator")
    assert detail.output["chunks_embedded"] == summary["chunks"]["embedded"]
    with d.runtime.session() as session:
        repository_id = session.scalar(select(Repository.id).where(Repository.location == str(repo.path)))
    assert document_paths(d.runtime, repository_id) == {"oncall.md": 1}
    assert_store_equals_ledger(d.runtime, repository_id)

"""Many GitHub repositories on the production deployment, pushed to through real signed webhooks.

``fleet()`` starts what production runs: PostgreSQL holding Dagster's storage and the catalog (two databases of
one server), ``dagster-daemon`` on deploy/dagster.yaml and deploy/workspace.yaml (run queue with its
concurrency limits, sensors, both code locations) and ``lightfast webhooks serve``; the local GitHub server
serves one real git repository per member. Members are connected and indexed before the daemon starts (in this
process, as ``lightfast ingest`` without a daemon does), so what is measured afterwards is pushes only. A push
is a commit followed by the signed push delivery GitHub would send, POSTed to the receiver.

Used by ``tests/test_production_fleet.py`` and ``benchmarks/fleet.py``. Runs embed with the hashing test
embedder (``tests.support.embedders``): embedding cost is not what they measure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType
from sqlalchemy import select
from sqlalchemy.engine import URL

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.db import get_engine
from lightfast_pipeline.catalog.models import Repository, WebhookDelivery
from lightfast_pipeline.github.connect import connect_github_repository
from lightfast_pipeline.jobs.ingestion import UNFINISHED, head_read
from lightfast_pipeline.runs.launch import ingestion_tags, run_in_process
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.query import search
from lightfast_pipeline.settings import load_settings
from lightfast_pipeline.workspaces.workspace import get_or_create_organization
from tests.conftest import TEST_EMBEDDER
from tests.support.github_fixtures import (
    APP_ID,
    GitHubApp,
    GitRepo,
    app_key_pair,
    delivery_headers,
    encode,
    load_webhook,
    retarget,
)
from tests.support.github_server import GitHubServer
from tests.support.gitrepo import DEFAULT_CONFIG
from tests.support.postgres import DEPLOY_DIR, create_database, deploy_environment, drop_database, write_deploy_instance

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OWNER = "fleet"
FIRST_GITHUB_ID = 880_000
DELIVERY_SENSOR = "github_deliveries_sensor"


@dataclass
class Member:
    """One repository of the fleet: its git working copy (served by the local GitHub) and catalog ids."""

    index: int
    git: GitRepo
    repository_id: int = 0
    uid: str = ""
    pushes: int = 0

    @property
    def full_name(self) -> str:
        return f"{OWNER}/docs-{self.index:03d}"

    @property
    def github_id(self) -> int:
        return FIRST_GITHUB_ID + self.index


@dataclass(frozen=True)
class Push:
    """A commit that added one page with a word found nowhere else, and the delivery announcing it."""

    member: int
    sha: str
    path: str
    word: str
    at: float  # wall clock once the commit existed, before its delivery was sent
    delivery_id: str


@dataclass(frozen=True)
class RunRow:
    """An ingestion run as the instance recorded it, with the commit it planned from."""

    run_id: str
    repository_uid: str
    trigger: str
    delivery: str | None
    status: str
    created: float
    started: float | None
    ended: float | None
    head: str | None
    retry_of: str | None = None  # the failed run Dagster's run retries started this one again for


@dataclass
class Fleet:
    """Handles on the running deployment and its members."""

    runtime: Runtime
    instance: DagsterInstance
    receiver_url: str
    members: list[Member]
    config: dict
    max_concurrent_runs: int
    started_at: float = field(default_factory=time.time)

    def limits(self) -> dict:
        """The run queue's limits in effect (deploy/dagster.yaml with this fleet's overall limit)."""
        queue = self.config["run_coordinator"]["config"]
        return {
            "max_concurrent_runs": self.max_concurrent_runs,
            "tag_concurrency_limits": queue["tag_concurrency_limits"],
            "dequeue_interval_seconds": queue["dequeue_interval_seconds"],
            "dequeue_num_workers": queue["dequeue_num_workers"] if queue.get("dequeue_use_threads") else 1,
            "sensor_num_workers": self.config.get("sensors", {}).get("num_workers", 1),
        }

    def push(self, index: int, text: str = "") -> Push:
        """Commit a new page to member ``index`` and POST the signed push delivery; returns when it is stored."""
        member = self.members[index]
        member.pushes += 1
        word = f"fleetword{index}x{member.pushes}x{uuid.uuid4().hex[:8]}"
        path = f"docs/push-{member.pushes}.md"
        before = member.git.head()
        sha = member.git.commit({path: f"# Push {member.pushes}\n\nThe {word} appears on this page only. {text}\n"})
        at = time.time()
        payload = retarget(load_webhook("push.modified.json"), repo_id=member.github_id, full_name=member.full_name)
        payload.update(ref="refs/heads/main", before=before, after=sha)
        body = encode(payload)
        headers = delivery_headers("push", body)
        response = requests.post(f"{self.receiver_url}/webhooks/github", data=body, headers=headers, timeout=30)
        assert response.status_code == 202, response.text
        return Push(index, sha, path, word, at, headers["X-GitHub-Delivery"])

    def indexed_heads(self) -> dict[int, str | None]:
        """Member index → the commit its index was last built from (one catalog query)."""
        by_id = {member.repository_id: member.index for member in self.members}
        with self.runtime.session() as session:
            rows = session.execute(
                select(Repository.id, Repository.last_ingested_commit).where(Repository.id.in_(by_id))
            ).all()
        return {by_id[repository_id]: commit for repository_id, commit in rows}

    def finds(self, push: Push) -> bool:
        """True when a search for the push's word returns its page (hybrid search, as users search)."""
        hits = search(self.runtime, push.word, None, top_k=10, record=False).results
        name = self.members[push.member].full_name
        return any(hit.path == push.path and hit.repository == name for hit in hits)

    def runs(self) -> list[RunRow]:
        """Every ingestion run of the fleet's repositories created since the deployment started."""
        uids = [member.uid for member in self.members]
        records = self.instance.get_run_records(RunsFilter(tags={tags.REPOSITORY: uids}), ascending=True)
        rows = []
        for record in records:
            run = record.dagster_run
            if record.create_timestamp.timestamp() < self.started_at:
                continue
            rows.append(
                RunRow(
                    run_id=run.run_id,
                    repository_uid=run.tags[tags.REPOSITORY],
                    trigger=run.tags.get(tags.TRIGGER, ""),
                    delivery=run.tags.get(tags.DELIVERY),
                    status=run.status.value,
                    created=record.create_timestamp.timestamp(),
                    started=record.start_time,
                    ended=record.end_time,
                    head=head_read(self.instance, run.run_id),
                    retry_of=run.parent_run_id if run.tags.get("dagster/retry_number") else None,
                )
            )
        return rows

    def deliveries(self, delivery_ids: list[str]) -> dict[str, tuple[str, str | None, str | None]]:
        """Delivery id → (status, reason, run id) as the delivery sensor decided it."""
        with self.runtime.session() as session:
            rows = session.execute(
                select(
                    WebhookDelivery.delivery_id, WebhookDelivery.status, WebhookDelivery.reason, WebhookDelivery.run_id
                ).where(WebhookDelivery.delivery_id.in_(delivery_ids))
            ).all()
        return {delivery_id: (status, reason, run_id) for delivery_id, status, reason, run_id in rows}

    def busy(self) -> bool:
        """True while a delivery waits for the sensor or for its run to be created, a run of the fleet is
        unfinished, or a failed one waits for Dagster's run retries to start it again."""
        with self.runtime.session() as session:
            waiting = session.scalar(
                select(WebhookDelivery.seq)
                .where((WebhookDelivery.status == "received") | WebhookDelivery.requested_runs.is_not(None))
                .limit(1)
            )
        if waiting is not None:
            return True
        uids = [member.uid for member in self.members]
        records = self.instance.get_run_records(RunsFilter(tags={tags.REPOSITORY: uids}))
        runs = [record.dagster_run for record in records]
        retried = {run.parent_run_id for run in runs if run.tags.get("dagster/retry_number")}
        return any(
            run.status in UNFINISHED
            or (
                run.status == DagsterRunStatus.FAILURE
                and run.tags.get("dagster/max_retries")
                and run.tags.get("dagster/will_retry") != "false"
                and run.run_id not in retried
            )
            for run in runs
        )


def _start(command: list[str], log: Path) -> subprocess.Popen:
    """A subprocess in its own session (it and the code servers it spawns stop together)."""
    handle = log.open("wb")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left of it."""
    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _receiver_up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _sensor_ticked(instance: DagsterInstance, name: str) -> bool:
    """True once the daemon has evaluated the sensor ``name`` (its code location is loaded)."""
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == name and instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1):
            return True
    return False


@contextmanager
def _environment(values: dict[str, str], remove: tuple[str, ...]) -> Iterator[None]:
    """Set (and afterwards restore) process environment variables; subprocesses inherit them."""
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    os.environ.update(values)
    for name in remove:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _connect_and_index(runtime: Runtime, instance: DagsterInstance, server: GitHubServer, home: Path, size: int):
    members = []
    for index in range(size):
        member = Member(index, GitRepo(home / "repos" / f"docs-{index:03d}"))
        member.git.commit(
            {
                "lightfast.yml": DEFAULT_CONFIG,
                "docs/intro.md": f"# Repository {index}\n\nThe handbook of team {index}: on-call, releases.\n",
            }
        )
        server.add_repository(member.full_name, member.git.path, repo_id=member.github_id, installation_id=1)
        member.repository_id = connect_github_repository(runtime, member.full_name, None, None, OWNER).id
        with runtime.session() as session:
            repository = session.get(Repository, member.repository_id)
            member.uid, workspace_slug = repository.uid, repository.workspace.slug
        run_tags = ingestion_tags(
            trigger="manual",
            user=OWNER,
            workspace_slug=workspace_slug,
            repository_uid=member.uid,
            repository_name=member.full_name,
        )
        outcome = run_in_process(instance, run_tags)
        assert outcome.status == "completed", outcome.error
        members.append(member)
    return members


def _workspace(home: Path, metrics: bool) -> Path:
    """deploy/workspace.yaml, or a copy holding only the ingestion location."""
    if metrics:
        return DEPLOY_DIR / "workspace.yaml"
    locations = yaml.safe_load((DEPLOY_DIR / "workspace.yaml").read_text())["load_from"]
    ingestion = [entry for entry in locations if entry["python_module"]["location_name"] == "lightfast_pipeline"]
    path = home / "workspace.yaml"
    path.write_text(yaml.safe_dump({"load_from": ingestion}))
    return path


@contextmanager
def fleet(home: Path, admin_url: URL, size: int, *, max_concurrent_runs: int, metrics: bool = True) -> Iterator[Fleet]:
    """The deployment with ``size`` connected, indexed repositories; everything is removed on exit.

    ``metrics=False`` loads the ingestion code location only (no warehouse refreshes beside the runs)."""
    suffix = uuid.uuid4().hex[:12]
    dagster_db, catalog_db = f"fleet_dagster_{suffix}", f"fleet_catalog_{suffix}"
    dagster_url = create_database(admin_url, dagster_db).render_as_string(hide_password=False)
    catalog_url = create_database(admin_url, catalog_db).render_as_string(hide_password=False)
    config = write_deploy_instance(home / "dagster")
    private, public = app_key_pair()
    server = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    port = free_port()
    env = {
        **deploy_environment(dagster_url, max_concurrent_runs=max_concurrent_runs),
        **GitHubApp(server=server, private_key=private).env,
        "DAGSTER_HOME": str(home / "dagster"),
        "LIGHTFAST_HOME": str(home / "lightfast"),
        "LIGHTFAST_DATABASE_URL": catalog_url,
        "LIGHTFAST_USER": OWNER,
        "LIGHTFAST_EMBEDDER": TEST_EMBEDDER,
        "LIGHTFAST_VECTOR_BACKEND": "lancedb",
        "PYTHONPATH": str(ROOT),
    }
    processes: list[subprocess.Popen] = []
    try:
        with _environment(env, remove=("GITHUB_APP_PRIVATE_KEY_PATH", "GITHUB_WEBHOOK_SECRET_PREVIOUS")):
            runtime = Runtime(load_settings())
            with runtime.session() as session:
                get_or_create_organization(session)
            with DagsterInstance.get() as instance:
                members = _connect_and_index(runtime, instance, server, home, size)
                url = f"http://127.0.0.1:{port}"
                receiver = [str(BIN / "lightfast"), "webhooks", "serve", "--port", str(port)]
                processes.append(_start(receiver, home / "receiver.log"))
                daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(_workspace(home, metrics))]
                processes.append(_start(daemon, home / "daemon.log"))
                _wait(lambda: _receiver_up(url), 60, "the webhook receiver")
                _wait(lambda: _sensor_ticked(instance, DELIVERY_SENSOR), 240, "the daemon's delivery sensor")
                yield Fleet(runtime, instance, url, members, config, max_concurrent_runs)
    finally:
        for process in processes:
            stop_process_group(process)
        server.stop()
        get_engine(catalog_url).dispose()
        drop_database(admin_url, catalog_db)
        drop_database(admin_url, dagster_db)

"""`lightfast serve` as a subprocess on a free port, and the two-workspace state the API tests share."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import Result
from dagster import DagsterRunStatus, job, op
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from typer.testing import CliRunner

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import Repository, SourceType, WebhookDelivery
from lightfast_pipeline.keys.service import create_key
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository, detect_repository_config
from lightfast_pipeline.workspaces.workspace import create_workspace, get_or_create_organization
from tests.conftest import PROJECT_ROOT, TEST_EMBEDDER
from tests.support.gitrepo import GitRepo
from tests.support.ingest import ingest

CONFIG = 'version: 1\nstore: docs\ninclude: ["docs/**/*.md"]\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    """A running `lightfast serve`; ``client(key)`` is an httpx client sending that key."""

    url: str
    process: subprocess.Popen
    log: Path

    def client(self, key: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(env: dict[str, str], log: Path, *args: str, wait: float = 180) -> ApiServer:
    """Start `python -m lightfast_pipeline.cli serve` and wait (up to ``wait`` s) until ``/healthz`` answers."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lightfast_pipeline.cli", "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lightfast serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"lightfast serve did not start:\n{log.read_text()[-3000:]}")


def api_environment(home: Path, database_url: str | None = None) -> dict[str, str]:
    """Environment of the state, the server and the CLI: own home, test embedder, queued run coordinator."""
    env = {
        "LIGHTFAST_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "LIGHTFAST_EMBEDDER": TEST_EMBEDDER,
        "LIGHTFAST_USER": "tester",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if database_url:
        env["LIGHTFAST_DATABASE_URL"] = database_url
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    coordinator = {"run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}}
    (home / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(coordinator))
    return env


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` applied to this process (and removed variables that would leak in)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("LIGHTFAST_DATABASE_URL", "LIGHTFAST_LANCEDB_URI", "GITHUB_APP_PRIVATE_KEY_PATH"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def cli(*args: str) -> Result:
    """The `lightfast` CLI in this process on a fresh Runtime (under the current environment)."""
    from lightfast_pipeline.cli.app import app
    from lightfast_pipeline.cli.common import get_runtime

    get_runtime.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        get_runtime.cache_clear()


def cli_json(*args: str) -> Any:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@op
def wait_op() -> None:
    """Never executed: the runs of this job stay queued until cancelled."""


@job
def queued_job() -> None:
    wait_op()


QUEUED_ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__, attribute="queued_job")),
        "__repository__queued_job",
    ),
    "queued_job",
)


@dataclass
class Tenant:
    """One workspace of the state: its repository, keys, a queued job and a delivery."""

    slug: str
    repository_id: int
    repository_uid: str
    repository_name: str
    document_path: str
    word: str  # appears only in this tenant's documents
    run_ids: list[str] = field(default_factory=list)
    queued_run_id: str = ""
    delivery_id: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # role/name -> key
    key_ids: dict[str, int] = field(default_factory=dict)


def build_tenant(runtime: Runtime, root: Path, slug: str, word: str, github_id: str) -> Tenant:
    """A workspace with an ingested local repository, a disconnected-later GitHub row, keys, a queued job."""
    with runtime.session() as session:
        create_workspace(session, slug, organization=get_or_create_organization(session), actor="tester")
    repo = GitRepo(root / f"{slug}-docs")
    repo.write("lightfast.yml", CONFIG)
    repo.write("docs/guide.md", f"# {slug.title()} guide\n\nThe {word} handbook explains {word} setup.\n")
    repo.write("docs/other.md", f"# Other\n\nUnrelated {slug} notes about deployment.\n")
    repo.write("README.md", "not selected by the config\n")
    repo.commit("docs")
    source = LocalGitSource(repo.path)
    row = connect_repository(
        runtime,
        workspace_name=slug,
        source=source,
        source_type=SourceType.LOCAL.value,
        location=str(repo.path),
        actor="tester",
    )
    detect_repository_config(runtime, row.id, source, actor="tester")
    outcome = ingest(runtime, row.id)
    assert outcome.status == "completed", outcome.error
    with runtime.session() as session:
        repository = session.get(Repository, row.id)
        tenant = Tenant(slug, row.id, repository.uid, repository.full_name, "docs/guide.md", word)
        github = Repository(
            uid=f"gh{github_id}",
            workspace_id=repository.workspace_id,
            source_type=SourceType.GITHUB.value,
            source_id=github_id,
            full_name=f"{slug}-org/site",
            active=False,
        )
        session.add(github)
        delivery = WebhookDelivery(
            delivery_id=f"delivery-{slug}",
            event="push",
            action=None,
            github_repository_id=github_id,
            repository_full_name=f"{slug}-org/site",
            payload={},
            status="skipped",
            reason="not connected",
        )
        session.add(delivery)
        # "tenant": an admin key used only by the tenant matrix, so the other tests' requests never drain its
        # rate-limit bucket (the matrix expects 404s, not 429s).
        keys = (("admin", "admin"), ("read", "read"), ("revocable", "read"), ("burst", "read"), ("tenant", "admin"))
        for name, role in keys:
            public, key = create_key(session, workspace=slug, role=role, name=f"{slug}-{name}", actor="tester")
            tenant.keys[name] = key
            tenant.key_ids[name] = public["id"]
    tenant.run_ids.append(outcome.run_id)
    tenant.delivery_id = f"delivery-{slug}"
    run_tags = {
        tags.TRIGGER: "manual",
        tags.USER: "tester",
        tags.WORKSPACE: slug,
        tags.REPOSITORY: tenant.repository_uid,
    }
    queued = runtime.instance.create_run_for_job(
        queued_job, tags=run_tags, status=DagsterRunStatus.QUEUED, remote_job_origin=QUEUED_ORIGIN
    )
    tenant.queued_run_id = queued.run_id
    tenant.run_ids.append(queued.run_id)
    return tenant

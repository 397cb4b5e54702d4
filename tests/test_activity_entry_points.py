"""Each recorded action produces exactly one activity row with the right fields, through its real entry point.

Local actions go through the `lightfast` CLI; GitHub actions through signed real payloads POSTed to the
webhook receiver and the delivery sensor evaluated on the real instance. Run failures and health changes
(the notification sensor and ``activity.health``) are covered in ``test_activity_notifications.py``.
Not recorded anywhere yet: ``store.rebuilt`` (no rebuild entry point exists).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRunStatus, SensorResult, build_sensor_context
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, Repository, Workspace
from lightfast_pipeline.cli.app import app
from lightfast_pipeline.cli.common import get_runtime
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sensors.github import github_deliveries_sensor
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.webhooks import WEBHOOK_PATH, create_app
from tests.support import activity_data
from tests.support.activity_data import tiny_job
from tests.support.github_fixtures import GitHubApp, GitRepo, delivery_headers, encode, load_webhook, retarget
from tests.support.gitrepo import DEFAULT_CONFIG
from tests.support.resources import sensor_resources

runner = CliRunner()
REPO_ID = 880001
FULL_NAME = "acme/handbook"
INSTALLATION = 1
TINY_JOB_ORIGIN = RemoteJobOrigin(  # queued runs need an origin the run launcher could load
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=activity_data.__file__, attribute="tiny_job")),
        "__repository__tiny_job",
    ),
    "tiny_job",
)


def _cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _events(runtime: Runtime, since_id: int = 0) -> list[ActivityEvent]:
    with runtime.session() as session:
        query = select(ActivityEvent).where(ActivityEvent.id > since_id).order_by(ActivityEvent.id)
        return list(session.scalars(query))


def _last_id(runtime: Runtime) -> int:
    events = _events(runtime)
    return events[-1].id if events else 0


def _only(runtime: Runtime, since_id: int, action: str) -> ActivityEvent:
    """The one row of ``action`` added after ``since_id``."""
    rows = [event for event in _events(runtime, since_id) if event.action == action]
    assert len(rows) == 1, (action, [(r.action, r.entity_id) for r in _events(runtime, since_id)])
    return rows[0]


@pytest.fixture
def runtime(lightfast_env: Settings) -> Iterator[Runtime]:
    get_runtime.cache_clear()
    yield get_runtime()
    get_runtime.cache_clear()


def test_cli_actions_record_one_row_each(runtime: Runtime, tmp_path: Path) -> None:
    git = GitRepo(tmp_path / "handbook")
    git.commit({"lightfast.yml": DEFAULT_CONFIG, "docs/windows.md": "# Windows\n\nTitle bars explained.\n"})

    mark = _last_id(runtime)
    workspace = _cli("workspace", "create", "Docs")
    created = [e for e in _events(runtime, mark) if e.action == actions.WORKSPACE_CREATED]
    with runtime.session() as session:
        workspace_ids = set(session.scalars(select(Workspace.id)))
    assert sorted(int(e.entity_id) for e in created) == sorted(workspace_ids)  # one per workspace
    docs = next(e for e in created if e.entity_id == str(workspace["id"]))
    assert (docs.actor, docs.workspace_id, docs.status) == ("tester", workspace["id"], "success")

    mark = _last_id(runtime)
    repo = _cli("repo", "connect", str(git.path), "--workspace", workspace["slug"])
    connected = _only(runtime, mark, actions.REPOSITORY_CONNECTED)
    assert (connected.actor, connected.repository_id, connected.source_type) == (
        "tester",
        repo["id"],
        "local",
    )
    assert connected.workspace_id == workspace["id"] and connected.repository_name == repo["name"]
    detected = _only(runtime, mark, actions.CONFIG_DETECTED)
    assert detected.repository_id == repo["id"] and detected.status == "success"

    mark = _last_id(runtime)
    summary = _cli("ingest", str(repo["id"]))
    reindex = _only(runtime, mark, actions.REINDEX_REQUESTED)
    assert (reindex.actor, reindex.run_id, reindex.status) == ("tester", summary["run_id"], "success")
    assert reindex.repository_id == repo["id"]
    store = _only(runtime, mark, actions.STORE_CREATED)
    assert store.workspace_id == workspace["id"]

    with runtime.session() as session:
        uid = session.get(Repository, repo["id"]).uid
    queued = runtime.instance.create_run_for_job(
        tiny_job,
        tags={"lightfast/workspace": workspace["slug"], "lightfast/repository": uid},
        status=DagsterRunStatus.QUEUED,
        remote_job_origin=TINY_JOB_ORIGIN,
    )
    mark = _last_id(runtime)
    _cli("jobs", "cancel", queued.run_id)
    cancelled = _only(runtime, mark, actions.JOB_CANCELLED)
    assert (cancelled.actor, cancelled.run_id, cancelled.repository_id) == (
        "tester",
        queued.run_id,
        repo["id"],
    )

    mark = _last_id(runtime)
    _cli("repo", "disconnect", str(repo["id"]))
    disconnected = _only(runtime, mark, actions.REPOSITORY_DISCONNECTED)
    assert (disconnected.actor, disconnected.repository_id) == ("tester", repo["id"])

    # The timeline shows each action once and each job once: the ingestion run live, the cancelled one
    # through its job.cancelled row.
    timeline = _cli("activity", "--limit", "100")["activity"]
    per_run = Counter(row["run_id"] for row in timeline if row["run_id"])
    assert per_run == {summary["run_id"]: 2, queued.run_id: 1}  # reindex.requested + the run itself
    run_row = next(row for row in timeline if row["action"] == actions.JOB_RUN)
    assert (run_row["status"], run_row["repository"], run_row["actor"]) == ("success", repo["name"], "tester")


class GitHubFlow:
    """Signed deliveries into the receiver, then one delivery-sensor tick each."""

    def __init__(self, runtime: Runtime, client: TestClient) -> None:
        self.runtime = runtime
        self.client = client
        self.cursor: str | None = None
        self.deliveries: list[str] = []

    def deliver(self, fixture: str, event: str, **changes: Any) -> str:
        payload = retarget(load_webhook(fixture), repo_id=REPO_ID, full_name=changes.pop("full_name", FULL_NAME))
        payload.update(changes)
        body = encode(payload)
        headers = delivery_headers(event, body)
        assert self.client.post(WEBHOOK_PATH, content=body, headers=headers).status_code == 202
        delivery_id = headers["X-GitHub-Delivery"]
        received = [e for e in _events(self.runtime) if e.delivery_id == delivery_id]
        assert [(e.action, e.status) for e in received] == [(actions.DELIVERY_RECEIVED, "in_progress")]
        result = github_deliveries_sensor(
            build_sensor_context(
                instance=self.runtime.instance, cursor=self.cursor, resources=sensor_resources(self.runtime.settings)
            )
        )
        if isinstance(result, SensorResult):
            self.cursor = result.cursor
        self.deliveries.append(delivery_id)
        return delivery_id


def test_github_actions_record_one_row_each(runtime: Runtime, github_app: GitHubApp, tmp_path: Path) -> None:
    git = GitRepo(tmp_path / "handbook")
    git.commit({"lightfast.yml": DEFAULT_CONFIG, "docs/menus.md": "# Menus\n\nAccelerators.\n"})
    github_app.server.add_repository(FULL_NAME, git.path, repo_id=REPO_ID, installation_id=INSTALLATION)
    repo = _cli("repo", "connect", FULL_NAME)
    assert _only(runtime, 0, actions.REPOSITORY_CONNECTED).source_type == "github"

    with TestClient(create_app(runtime)) as client:
        flow = GitHubFlow(runtime, client)
        expectations = [
            ("installation.created.json", "installation", {}, actions.INSTALLATION_CREATED),
            ("installation.suspend.json", "installation", {}, actions.INSTALLATION_SUSPENDED),
            ("installation.unsuspend.json", "installation", {}, actions.INSTALLATION_UNSUSPENDED),
            (
                "installation_repositories.added.json",
                "installation_repositories",
                {},
                actions.INSTALLATION_REPOSITORIES_ADDED,
            ),
            (
                "repository.renamed.json",
                "repository",
                {"full_name": "acme/guide"},
                actions.REPOSITORY_RENAMED,
            ),
            (
                "repository.transferred.json",
                "repository",
                {"full_name": "octo/guide"},
                actions.REPOSITORY_TRANSFERRED,
            ),
            (
                "repository.privatized.json",
                "repository",
                {"full_name": "octo/guide"},
                actions.REPOSITORY_VISIBILITY_CHANGED,
            ),
            # No real `archived` payload exists (fixtures README): the same envelope with action "archived".
            (
                "repository.privatized.json",
                "repository",
                {"full_name": "octo/guide", "action": "archived"},
                actions.REPOSITORY_ARCHIVED,
            ),
            (
                "repository.privatized.json",
                "repository",
                {"full_name": "octo/guide", "action": "unarchived"},
                actions.REPOSITORY_UNARCHIVED,
            ),
            (
                "repository.deleted.json",
                "repository",
                {"full_name": "octo/guide"},
                actions.REPOSITORY_DELETED,
            ),
            (
                "installation_repositories.removed.json",
                "installation_repositories",
                {},
                actions.INSTALLATION_REPOSITORIES_REMOVED,
            ),
            ("installation.deleted.json", "installation", {}, actions.INSTALLATION_DELETED),
        ]
        for fixture, event, changes, action in expectations:
            mark = _last_id(runtime)
            delivery_id = flow.deliver(fixture, event, **changes)
            row = _only(runtime, mark, action)
            assert row.delivery_id == delivery_id, action
            assert row.actor not in (None, "", "system"), action  # the GitHub sender
            if action.startswith("repository."):
                assert (row.repository_id, row.source_type) == (repo["id"], "github"), action
            else:
                assert row.entity_type == "integration" and row.source_type == "github", action

    # One delivery row per delivery, each updated in place with what it caused.
    received = [e for e in _events(runtime) if e.action == actions.DELIVERY_RECEIVED]
    assert sorted(e.delivery_id for e in received) == sorted(flow.deliveries)
    assert all(e.status != "in_progress" for e in received), [(e.delivery_id, e.status) for e in received]
    renamed = _only(runtime, 0, actions.REPOSITORY_RENAMED)
    assert (renamed.before, renamed.after) == ({"full_name": FULL_NAME}, {"full_name": "acme/guide"})

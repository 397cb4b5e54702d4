"""End to end: real payloads signed and POSTed to the receiver, the real sensor on a real instance, real runs.

The repository lives on the local GitHub server (a real git repository); runs use the test embedder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)
from sqlalchemy import select
from starlette.testclient import TestClient

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, Document, Repository, Store, WebhookDelivery
from lightfast_pipeline.github.connect import connect_github_repository
from lightfast_pipeline.github.deliveries import LOST_AFTER
from lightfast_pipeline.jobs.ingestion import AUTOMATIC_RETRIES
from lightfast_pipeline.runs.launch import run_in_process
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.schedules.reconciliation import reconciliation_schedule, sync_due
from lightfast_pipeline.search.query import search
from lightfast_pipeline.sensors import github as sensors_github
from lightfast_pipeline.sensors.github import github_deliveries_sensor
from lightfast_pipeline.sensors.repositories import repository_lifecycle_sensor
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.webhooks import WEBHOOK_PATH, create_app
from tests.support.dagster_runs import add_run, head_reported, step_started
from tests.support.github_fixtures import GitHubApp, GitRepo, delivery_headers, encode, load_webhook, retarget
from tests.support.gitrepo import DEFAULT_CONFIG
from tests.support.resources import sensor_resources

REPO_ID = 777001
NOW = datetime.now(UTC)
FULL_NAME = "acme/handbook"
INSTALLATION = 1


class World:
    """The receiver, the sensor's cursor, the instance and the repository under test."""

    def __init__(self, runtime: Runtime, client: TestClient, git: GitRepo, github: GitHubApp) -> None:
        self.runtime = runtime
        self.client = client
        self.git = git
        self.github = github
        self.instance: DagsterInstance = runtime.instance
        self.resources = sensor_resources(runtime.settings)
        self.cursor: str | None = None
        self.repository_id = 0
        self.workspace_slug = ""

    def post(self, fixture: str, event: str, *, delivery_id: str | None = None, **changes: Any) -> tuple[int, str]:
        """POST a real payload, retargeted to the test repository, signed; returns (status, delivery id)."""
        payload = retarget(load_webhook(fixture), repo_id=REPO_ID, full_name=changes.pop("full_name", FULL_NAME))
        payload.update(changes)
        body = encode(payload)
        headers = delivery_headers(event, body, delivery_id=delivery_id)
        return self.client.post(WEBHOOK_PATH, content=body, headers=headers).status_code, headers["X-GitHub-Delivery"]

    def push(self, fixture: str = "push.modified.json", *, before: str, **changes: Any) -> str:
        changes.setdefault("ref", "refs/heads/main")
        changes.setdefault("after", self.git.head())
        status, delivery_id = self.post(fixture, "push", before=before, **changes)
        assert status == 202
        return delivery_id

    def tick(self) -> list[RunRequest]:
        """Evaluate the delivery sensor once, as the daemon would."""
        context = build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = github_deliveries_sensor(context)
        if isinstance(result, SensorResult):
            self.cursor = result.cursor
            return list(result.run_requests or [])
        return []

    def execute(self, request: RunRequest) -> dict:
        """Run a requested run (in process, on the instance) and return its report."""
        result = run_in_process(self.instance, {**request.tags, "dagster/partition": request.partition_key})
        assert result.status == "completed", result.error
        return result.report

    def delivery(self, delivery_id: str) -> WebhookDelivery:
        with self.runtime.session() as session:
            return session.scalars(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)).one()

    def repository(self) -> Repository:
        with self.runtime.session() as session:
            repository = session.get(Repository, self.repository_id)
            assert repository is not None
            self.workspace_slug = repository.workspace.slug
            return repository

    def paths(self) -> dict[str, str]:
        with self.runtime.session() as session:
            rows = session.execute(
                select(Document.path, Document.uid).where(Document.repository_id == self.repository_id)
            ).all()
        return dict(rows)

    def top_path(self, query: str) -> str | None:
        hits = search(self.runtime, query, None, top_k=3).results
        return hits[0].path if hits else None

    def run_count(self) -> int:
        return len(self.instance.get_run_records(RunsFilter()))


@pytest.fixture
def world(lightfast_env: Settings, github_app: GitHubApp, tmp_path: Path) -> Iterator[World]:
    """A connected, initially synced GitHub repository and the receiver in front of the catalog."""
    git = GitRepo(tmp_path / "handbook")
    git.commit(
        {
            "lightfast.yml": DEFAULT_CONFIG,
            "docs/windows.md": "# Windows\n\nBrowser window frames and title bars explained.\n",
            "docs/menus.md": "# Menus\n\nApplication menu templates and keyboard accelerators.\n",
        }
    )
    github_app.server.add_repository(FULL_NAME, git.path, repo_id=REPO_ID, installation_id=INSTALLATION)
    runtime = Runtime(lightfast_env)
    with TestClient(create_app(runtime)) as client:
        w = World(runtime, client, git, github_app)
        w.repository_id = connect_github_repository(runtime, FULL_NAME, None, None, "alice").id

        # the lifecycle sensor requests the initial sync, once
        result = repository_lifecycle_sensor(build_sensor_context(instance=w.instance, resources=w.resources))
        (initial,) = result.run_requests
        assert initial.tags[tags.TRIGGER] == "automatic" and initial.partition_key == w.repository().uid
        report = w.execute(initial)
        assert report["documents"]["added"] == 2
        again = repository_lifecycle_sensor(build_sensor_context(instance=w.instance, resources=w.resources))
        assert not isinstance(again, SensorResult)
        yield w


def test_push_becomes_searchable_with_a_recorded_outcome(world: World) -> None:
    before = world.git.head()
    world.git.commit({"docs/tray.md": "# Tray\n\nSystem tray icons and notification balloons.\n"})
    delivery_id = world.push(before=before)

    (request,) = world.tick()
    repository = world.repository()
    assert request.run_key == delivery_id and request.partition_key == repository.uid
    assert request.tags == {
        tags.TRIGGER: "webhook",
        tags.DELIVERY: delivery_id,
        tags.REPOSITORY: repository.uid,
        tags.REPOSITORY_NAME: FULL_NAME,
        tags.WORKSPACE: world.workspace_slug,
        tags.USER: "bkeepers",  # the pusher of the real payload
        **AUTOMATIC_RETRIES,
    }
    report = world.execute(request)
    assert report["documents"]["added"] == 1 and report["commit"] == world.git.head()
    assert world.top_path("system tray notification balloons") == "docs/tray.md"

    assert world.tick() == []  # nothing new; the run id is recorded on the delivery and its activity
    delivery = world.delivery(delivery_id)
    assert (delivery.status, delivery.reason) == ("processed", "sync requested")
    run = world.instance.get_run_records(RunsFilter(tags={tags.DELIVERY: delivery_id}))[0].dagster_run
    assert delivery.run_id == run.run_id
    with world.runtime.session() as session:
        activity = session.scalars(select(ActivityEvent).where(ActivityEvent.delivery_id == delivery_id)).one()
    assert (activity.action, activity.status, activity.run_id) == (
        actions.DELIVERY_RECEIVED,
        "success",
        run.run_id,
    )
    assert activity.repository_name == FULL_NAME


def test_force_push_indexes_the_rewritten_tree(world: World) -> None:
    base = world.git.head()
    world.git.commit({"docs/doomed.md": "# Doomed\n\nQuantum flux capacitor calibration.\n"})
    first = world.push(before=base)
    world.execute(world.tick()[0])
    assert world.top_path("quantum flux capacitor calibration") == "docs/doomed.md"

    doomed_head = world.git.head()
    world.git.reset_hard(base)  # history rewritten: the doomed commit is gone
    world.git.commit({"docs/replacement.md": "# Replacement\n\nDeterministic sprocket lubrication.\n"})
    forced = world.push("push.forced.json", before=doomed_head)
    (request,) = world.tick()
    world.execute(request)
    assert "docs/doomed.md" not in world.paths()
    assert world.top_path("deterministic sprocket lubrication") == "docs/replacement.md"
    assert "force push" in world.delivery(forced).reason and world.delivery(first).status == "processed"


def test_duplicate_delivery_causes_no_extra_run(world: World) -> None:
    before = world.git.head()
    world.git.commit({"docs/dup.md": "# Dup\n\nOnce only.\n"})
    delivery_id = world.push(before=before)
    status, _ = world.post("push.modified.json", "push", delivery_id=delivery_id, ref="refs/heads/main")
    assert status == 200
    runs_before = world.run_count()
    requests = world.tick()
    assert [r.run_key for r in requests] == [delivery_id]
    world.execute(requests[0])
    assert world.run_count() == runs_before + 1
    assert world.tick() == []


def test_push_of_an_indexed_head_requests_no_run(world: World) -> None:
    """A push whose commit a run already indexed (it started after the push) needs no run of its own."""
    before = world.git.head()
    world.git.commit({"docs/early.md": "# Early\n\nIndexed before its webhook was decided.\n"})
    late = world.push(before=before)
    world.execute(world.tick()[0])
    redelivered_elsewhere = world.push(before=before)  # same push, new delivery id: its head is indexed now

    assert world.tick() == []
    delivery = world.delivery(redelivered_elsewhere)
    assert delivery.status == "skipped" and f"{world.git.head()[:12]} is already indexed" in delivery.reason
    assert world.delivery(late).status == "processed"


def test_reconciliation_leaves_a_push_in_flight_to_its_delivery(world: World) -> None:
    """A push the delivery sensor has not turned into a run yet is not lost: reconciliation must not add a second
    run of the same head beside the one the delivery will request."""
    before = world.git.head()
    world.git.commit({"docs/inflight.md": "# In flight\n\nPushed just before the schedule ticked.\n"})
    delivery_id = world.push(before=before)

    def reconcile() -> list[RunRequest] | SkipReason:
        context = build_schedule_context(
            instance=world.instance, scheduled_execution_time=NOW, resources=world.resources
        )
        return reconciliation_schedule(context)

    assert not isinstance(reconcile(), list)  # the head moved, but its delivery is still undecided
    (request,) = world.tick()
    assert not isinstance(reconcile(), list)  # decided; its run is not created yet (the daemon submits it)
    assert request.tags[tags.DELIVERY] == delivery_id
    world.execute(request)
    world.tick()  # records the run on the delivery
    assert not isinstance(reconcile(), list)  # indexed: nothing to reconcile


def test_reconciliation_judges_a_head_on_the_state_after_reading_it(world: World) -> None:
    """A tick reads one head after another for seconds: a head a webhook run indexed meanwhile gets no second run
    (seen with 100 pushes at once), though the tick's candidate still shows the commit it was loaded with."""
    with world.runtime.session() as session:
        candidate = session.get(Repository, world.repository().id)  # loaded as the tick's candidates are
        before = world.git.head()
        world.git.commit({"docs/meanwhile.md": "# Meanwhile\n\nIndexed while the schedule was ticking.\n"})
        head = world.git.head()
        assert sync_due(world.runtime, world.instance, candidate, head)
        world.push(before=before)
        (request,) = world.tick()
        world.execute(request)
        assert candidate.last_ingested_commit == before  # what a stale read would compare the head with
        assert not sync_due(world.runtime, world.instance, candidate, head)


def test_reconciliation_leaves_a_repository_alone_while_its_run_is_planning(world: World) -> None:
    """A webhook run that began its step before the tick read the head, and has not reported the commit it read:
    the tick cannot tell whether it read this head, so it waits for its next look (seen at 100 pushes)."""
    with world.runtime.session() as session:
        candidate = session.get(Repository, world.repository().id)
        world.git.commit({"docs/planning.md": "# Planning\n\nPushed before the run began planning.\n"})
        head = world.git.head()
        assert sync_due(world.runtime, world.instance, candidate, head)
        planning = add_run(world.instance, candidate.uid, DagsterRunStatus.STARTED)
        step_started(world.instance, planning, time.time() - 5)
        assert not sync_due(world.runtime, world.instance, candidate, head)
        head_reported(world.instance, planning, head)  # planned: it read this head
        assert not sync_due(world.runtime, world.instance, candidate, head)


def test_pushes_in_one_tick_coalesce_into_one_run_of_the_newest_head(world: World) -> None:
    pushes = []
    for n in range(3):
        before = world.git.head()
        world.git.commit({f"docs/burst-{n}.md": f"# Burst {n}\n\nPush number {n} of a burst.\n"})
        pushes.append(world.push(before=before))

    requests = world.tick()

    assert [request.run_key for request in requests] == [pushes[0]]
    report = world.execute(requests[0])
    assert report["commit"] == world.git.head() and report["documents"]["added"] == 3
    assert all(world.delivery(delivery_id).status == "processed" for delivery_id in pushes)
    assert all("coalesced into the run requested for delivery" in world.delivery(d).reason for d in pushes[1:])
    assert world.tick() == []


def _age_decision(world: World, delivery_id: str, seconds: float) -> None:
    """Move a delivery's decision ``seconds`` into the past."""
    with world.runtime.session() as session:
        row = session.scalars(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)).one()
        row.processed_at -= timedelta(seconds=seconds)


def test_a_tick_result_the_daemon_dropped_is_requested_again_once(world: World) -> None:
    """The daemon drops a tick that outlives its deadline (run requests and cursor): the delivery is decided in
    the catalog but has no run. Once that is older than a tick can take, the same request is made again."""
    before = world.git.head()
    world.git.commit({"docs/lost.md": "# Lost\n\nA push whose tick timed out.\n"})
    delivery_id = world.push(before=before)
    cursor = world.cursor
    (dropped,) = world.tick()
    world.cursor = cursor  # the dropped tick's cursor was not saved either

    assert world.tick() == []  # decided, and too recent to call lost: the daemon may still be creating it
    _age_decision(world, delivery_id, LOST_AFTER.total_seconds() + 1)
    (again,) = world.tick()
    assert (again.run_key, again.partition_key, again.tags) == (dropped.run_key, dropped.partition_key, dropped.tags)

    report = world.execute(again)
    assert report["documents"]["added"] == 1
    assert world.tick() == []  # the run exists now: recorded, never requested a third time
    delivery = world.delivery(delivery_id)
    run = world.instance.get_run_records(RunsFilter(tags={tags.DELIVERY: delivery_id}))[0].dagster_run
    assert (delivery.run_id, delivery.requested_runs) == (run.run_id, None)
    with world.runtime.session() as session:  # SQL NULL, not JSON null: nothing left for the sensor to watch
        watched = select(WebhookDelivery.delivery_id).where(WebhookDelivery.requested_runs.is_not(None))
        assert session.scalars(watched).all() == []


def test_a_tick_decides_deliveries_for_a_bounded_time(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its time budget a tick returns what it decided; the next tick goes on from its cursor."""
    monkeypatch.setattr(sensors_github, "DECIDE_SECONDS", 0.0)
    pushes = []
    for n in range(2):
        before = world.git.head()
        world.git.commit({f"docs/slow-{n}.md": f"# Slow {n}\n\nDecided one per tick.\n"})
        pushes.append(world.push(before=before))

    assert [request.run_key for request in world.tick()] == [pushes[0]]
    assert world.delivery(pushes[1]).status == "received"
    assert [request.run_key for request in world.tick()] == [pushes[1]]


def test_forged_signature_is_rejected_and_nothing_is_stored(world: World) -> None:
    body = encode(retarget(load_webhook("push.modified.json"), repo_id=REPO_ID, full_name=FULL_NAME))
    headers = delivery_headers("push", body, secret="not-the-secret")
    assert world.client.post(WEBHOOK_PATH, content=body, headers=headers).status_code == 401
    with world.runtime.session() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
    assert world.tick() == []


def test_rename_changes_the_name_only_and_search_still_works(world: World) -> None:
    paths_before = world.paths()
    world.github.server.rename(FULL_NAME, "acme/guide")
    status, renamed = world.post(
        "repository.renamed.json", "repository", full_name="acme/guide", installation={"id": INSTALLATION}
    )
    assert status == 202
    assert world.tick() == []
    assert world.repository().full_name == "acme/guide"
    assert world.delivery(renamed).status == "processed"
    with world.runtime.session() as session:
        event = session.scalars(select(ActivityEvent).where(ActivityEvent.action == actions.REPOSITORY_RENAMED)).one()
    assert (event.before, event.after) == ({"full_name": FULL_NAME}, {"full_name": "acme/guide"})

    head = world.git.head()
    world.git.commit({"docs/dock.md": "# Dock\n\nDock badges and bounce animations.\n"})
    world.push(before=head, full_name="acme/guide")
    (request,) = world.tick()
    report = world.execute(request)
    assert report["chunks"]["embedded"] == 1 and report["documents"]["added"] == 1
    assert world.paths().keys() - paths_before.keys() == {"docs/dock.md"}
    assert world.top_path("dock badges bounce animations") == "docs/dock.md"
    assert world.top_path("application menu templates accelerators") == "docs/menus.md"


def test_repository_deleted_removes_its_vectors(world: World) -> None:
    repository = world.repository()
    with world.runtime.session() as session:
        namespace = session.get(Store, repository.store_id).namespace
    assert list(world.runtime.vector_store.list_ids(namespace, prefix=repository.uid))
    status, delivery_id = world.post("repository.deleted.json", "repository")
    assert status == 202
    assert world.tick() == []
    assert list(world.runtime.vector_store.list_ids(namespace, prefix=repository.uid)) == []
    assert world.paths() == {} and world.repository().active is False
    assert "removed 2 documents" in world.delivery(delivery_id).reason
    assert world.top_path("browser window frames") is None


def test_reconciliation_does_not_retry_an_invalid_config_until_the_head_moves(world: World) -> None:
    def reconcile() -> list[RunRequest]:
        context = build_schedule_context(
            instance=world.instance, scheduled_execution_time=NOW, resources=world.resources
        )
        result = reconciliation_schedule(context)
        return result if isinstance(result, list) else []

    world.git.commit({"lightfast.yml": "version: 1\nstore: docs\ninclude: 5\n"})
    (first,) = reconcile()
    failed = run_in_process(world.instance, {**first.tags, "dagster/partition": first.partition_key})
    assert failed.status == "failed" and "include" in (failed.error or "")
    assert world.repository().config_status == "error"

    assert reconcile() == []  # same head, same broken file: no run, no failure notification every 15 minutes

    world.git.commit({"lightfast.yml": DEFAULT_CONFIG})
    (fixed,) = reconcile()
    assert world.execute(fixed)["commit"] == world.git.head()
    assert world.repository().config_status == "configured"


def test_skips_suspension_archive_and_reconciliation(world: World) -> None:
    head = world.git.head()
    skipped = {
        world.post("ping.json", "ping")[1]: "ping",
        world.post("push.tag-created.json", "push")[1]: "tag push",
        world.post("push.branch-deleted.json", "push")[1]: "branch deleted",
        world.push(before=head, ref="refs/heads/feature"): "not the default branch main",
    }
    # A malformed payload fails alone (its head is not indexed yet, so it gets as far as reading the commits).
    broken = world.push(before=head, after="f" * 40, commits="not a list of commits")
    assert world.tick() == []
    assert world.delivery(broken).status == "failed" and "AttributeError" in world.delivery(broken).reason
    for delivery_id, reason in skipped.items():
        delivery = world.delivery(delivery_id)
        assert delivery.status == "skipped" and reason in delivery.reason, (delivery.event, delivery.reason)

    world.post("installation.suspend.json", "installation")
    world.git.commit({"docs/missed.md": "# Missed\n\nPushed while suspended.\n"})
    paused = world.push(before=head)
    assert world.tick() == []
    assert world.repository().suspended and "syncs paused" in world.delivery(paused).reason
    world.post("installation.unsuspend.json", "installation")
    (catch_up,) = world.tick()
    world.execute(catch_up)
    assert "docs/missed.md" in world.paths()

    # No real `archived` payload exists (see the fixtures README): same envelope, action and flag changed.
    world.post("repository.publicized.json", "repository", action="archived")
    world.tick()
    assert world.repository().archived
    world.git.commit({"docs/late.md": "# Late\n\nNever synced while archived.\n"})
    schedule = reconciliation_schedule(
        build_schedule_context(instance=world.instance, scheduled_execution_time=NOW, resources=world.resources)
    )
    assert not isinstance(schedule, list)  # archived: no syncs

    world.post("repository.publicized.json", "repository", action="unarchived")
    world.tick()
    (scheduled,) = reconciliation_schedule(
        build_schedule_context(instance=world.instance, scheduled_execution_time=NOW, resources=world.resources)
    )
    assert scheduled.tags[tags.TRIGGER] == "scheduled"
    world.execute(scheduled)
    assert "docs/late.md" in world.paths()
    assert not isinstance(
        reconciliation_schedule(
            build_schedule_context(instance=world.instance, scheduled_execution_time=NOW, resources=world.resources)
        ),
        list,
    )

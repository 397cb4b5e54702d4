"""The timeline over generated activity and real Dagster runs: filters, search, pages and export agree."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, DagsterRun, RunsFilter
from sqlalchemy import func, select

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.activity.run_history import RunQuery, resolve_search
from lightfast_pipeline.activity.timeline import (
    KIND_ACTIVITY,
    KIND_RUN,
    Entry,
    TimelineError,
    TimelineFilter,
    decode_cursor,
    iter_timeline,
    timeline_page,
)
from lightfast_pipeline.catalog.models import ActivityEvent
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings, load_settings
from tests.support.activity_data import Catalog, create_runs, generate_activity, seed_catalog, tiny_job

ROWS = 3000


@dataclass
class World:
    runtime: Runtime
    instance: DagsterInstance
    catalog: Catalog
    runs: list[DagsterRun]
    start: datetime
    end: datetime


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A catalog with ~3,000 activity rows around 32 real runs (one failed, one cancelled with their rows).

    Built once per module (a Dagster instance costs ~2 s): tests only add rows outside the others' views.
    """
    home = tmp_path_factory.mktemp("timeline") / "lightfast"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIGHTFAST_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        patch.delenv("LIGHTFAST_DATABASE_URL", raising=False)
        (home / "dagster").mkdir(parents=True)
        yield from _build_world(load_settings())


def _build_world(settings: Settings) -> Iterator[World]:
    runtime = Runtime(settings)
    with DagsterInstance.get() as instance:
        with runtime.session() as session:
            catalog = seed_catalog(session)
        runs = create_runs(instance, catalog, 30)
        instance.report_run_failed(runs[0])
        instance.report_run_canceled(runs[1])
        instance.report_run_failed(runs[2])  # failed without an activity row of its own
        uid = catalog.repositories[0].uid
        tiny_job.execute_in_process(
            instance=instance, tags={tags.USER: "alice", tags.WORKSPACE: "acme", tags.REPOSITORY: uid}
        )
        created = [record.create_timestamp for record in instance.get_run_records()]
        start, end = min(created) - timedelta(minutes=20), max(created) + timedelta(minutes=20)
        with runtime.session() as session:
            generate_activity(session, catalog, ROWS, start, end)
            for at in created[:5]:  # activity at exactly a run's instant
                record_activity(session, action=actions.STORE_CREATED, entity_type="store", at=at)
            repo = session.merge(catalog.repositories[0])
            record_activity(
                session,
                action=actions.RUN_FAILED,
                entity_type="run",
                entity_id=runs[0].run_id,
                repository=repo,
                status="failure",
                message="embedding provider answered 503",
                run_id=runs[0].run_id,
            )
            record_activity(
                session,
                action=actions.JOB_CANCELLED,
                entity_type="run",
                entity_id=runs[1].run_id,
                actor="bob",
                repository=repo,
                run_id=runs[1].run_id,
            )
        yield World(runtime, instance, catalog, runs, start, end)


def _pages(world: World, filters: TimelineFilter, limit: int) -> list[Entry]:
    entries: list[Entry] = []
    cursor = None
    with world.runtime.session() as session:
        while True:
            page = timeline_page(session, world.instance, filters, cursor=cursor, limit=limit)
            entries.extend(page.entries)
            assert len(page.entries) <= limit
            if not page.has_more:
                assert page.next_cursor is None
                return entries
            assert len(page.entries) == limit
            cursor = page.next_cursor


def _export(world: World, filters: TimelineFilter, batch_size: int = 250) -> list[Entry]:
    with world.runtime.session() as session:
        return list(iter_timeline(session, world.instance, filters, batch_size=batch_size))


def _reference(world: World, filters: TimelineFilter) -> list[tuple]:
    """Keys of the expected entries, computed in Python from every activity row and every run."""
    with world.runtime.session() as session:
        rows = session.scalars(select(ActivityEvent)).all()
    repos = {repo.id: repo for repo in world.catalog.repositories}
    by_uid = {repo.uid: repo for repo in world.catalog.repositories}
    slugs = {ident: slug for slug, ident in world.catalog.workspaces.items()}
    ended = {row.run_id for row in rows if row.action in actions.RUN_OUTCOMES}
    candidates = []
    for row in rows:
        current = repos.get(row.repository_id)
        names = [row.repository_name, current.full_name if current else None]
        candidates.append(
            dict(
                key=(row.at.replace(tzinfo=UTC), KIND_ACTIVITY, row.id),
                action=row.action,
                status=row.status,
                actor=row.actor,
                workspace=slugs.get(row.workspace_id),
                source=row.source_type,
                repo=current,
                names=names,
                texts=[*names, row.actor, row.reason, row.message],
            )
        )
    status_of = {"FAILURE": "failure", "CANCELED": "cancelled", "SUCCESS": "success"}
    for record in world.instance.get_run_records():
        run = record.dagster_run
        if run.run_id in ended:
            continue
        repo = by_uid.get(run.tags.get(tags.REPOSITORY))
        actor = run.tags.get(tags.USER, "system")
        trigger = run.tags.get(tags.TRIGGER)
        candidates.append(
            dict(
                key=(record.create_timestamp, KIND_RUN, run.run_id),
                action=actions.JOB_RUN,
                status=status_of.get(run.status.value, "in_progress"),
                actor=actor,
                workspace=run.tags.get(tags.WORKSPACE),
                source=repo.source_type if repo else None,
                repo=repo,
                names=[],
                texts=[repo.full_name if repo else None, actor, f"{run.job_name} ({trigger})"],
            )
        )

    def keep(c: dict) -> bool:
        f = filters
        if f.types and not any(c["action"] == t if "." in t else c["action"].startswith(t + ".") for t in f.types):
            return False
        if f.statuses and c["status"] not in f.statuses:
            return False
        if f.actor is not None and c["actor"] != f.actor:
            return False
        if (f.since and c["key"][0] < f.since) or (f.until and c["key"][0] >= f.until):
            return False
        if f.workspace and c["workspace"] != f.workspace:
            return False
        if f.sources and c["source"] not in f.sources:
            return False
        if f.repository:
            wanted = f.repository.lower()
            by_repo = c["repo"] is not None and wanted in (c["repo"].uid, c["repo"].full_name.lower())
            by_name = any(name and name.lower() == wanted for name in c["names"])
            if not (by_repo or by_name):
                return False
        if f.search:
            return any(text and f.search.lower() in text.lower() for text in c["texts"])
        return True

    return sorted((c["key"] for c in candidates if keep(c)), reverse=True)


def _filters(world: World) -> list[TimelineFilter]:
    middle = world.start + (world.end - world.start) / 2
    return [
        TimelineFilter(),
        TimelineFilter(types=("repository",)),
        TimelineFilter(types=("job",)),
        TimelineFilter(types=("config.detected", "delivery")),
        TimelineFilter(statuses=("failure",)),
        TimelineFilter(statuses=("in_progress", "success")),
        TimelineFilter(actor="alice"),
        TimelineFilter(actor="system"),
        TimelineFilter(workspace="beta"),
        TimelineFilter(workspace="nope"),
        TimelineFilter(sources=("local",)),
        TimelineFilter(repository="beta/api-docs"),
        TimelineFilter(repository=world.catalog.repositories[0].uid),
        TimelineFilter(search="old-api"),
        TimelineFilter(search="100%"),
        TimelineFilter(search="ALICE"),
        TimelineFilter(search="tiny_job"),
        TimelineFilter(search="api-docs"),  # also rows that hold the repository's old name
        TimelineFilter(search="beta/"),  # the LIKE escape character
        TimelineFilter(search="ob"),  # shorter than a trigram
        TimelineFilter(search="nobody-at-all"),
        TimelineFilter(since=world.start + timedelta(minutes=15), until=middle),
        TimelineFilter(types=("delivery",), statuses=("failure",), workspace="acme", search="main"),
    ]


def test_pages_export_and_reference_agree_for_every_filter(world: World) -> None:
    for filters in _filters(world):
        expected = _reference(world, filters)
        paged = [entry.key for entry in _pages(world, filters, limit=97)]
        exported = [entry.key for entry in _export(world, filters)]
        assert paged == expected, filters
        assert exported == expected, filters
    everything = _reference(world, TimelineFilter())
    with world.runtime.session() as session:
        activity_rows = session.scalar(select(func.count()).select_from(ActivityEvent))
    assert activity_rows >= ROWS + 5 + 2
    assert len(everything) == activity_rows + 31 - 2  # + runs without an outcome row
    assert len(set(everything)) == len(everything)


def test_small_pages_walk_runs_sharing_one_second(world: World) -> None:
    """SQLite stores run creation to the second: 31 runs in one or two seconds, pages of 3."""
    filters = TimelineFilter(types=("job.run",))
    keys = [entry.key for entry in _pages(world, filters, limit=3)]
    assert keys == _reference(world, filters)
    assert len(keys) == 29


def test_a_search_looks_runs_up_only_by_repositories_some_run_carries(world: World) -> None:
    carried = world.catalog.repositories[0].uid  # the executed run's repository
    query = RunQuery(search="docs", search_uids=frozenset({carried, "f" * 32}))
    assert resolve_search(world.instance.run_storage, query).search_uids == {carried}


def test_jobs_appear_once_with_live_status(world: World) -> None:
    entries = _export(world, TimelineFilter(types=("job", "run")))
    failed, cancelled, plain_failure = world.runs[0].run_id, world.runs[1].run_id, world.runs[2].run_id
    per_run: dict[str, list[Entry]] = {}
    for entry in entries:
        per_run.setdefault(entry.run_id, []).append(entry)
    assert all(len(rows) == 1 for rows in per_run.values())
    assert [(e.action, e.status, e.kind) for e in per_run[failed]] == [("run.failed", "failure", "activity")]
    assert [(e.action, e.actor) for e in per_run[cancelled]] == [("job.cancelled", "bob")]
    assert [(e.action, e.status) for e in per_run[plain_failure]] == [("job.run", "failure")]
    succeeded = [e for e in entries if e.status == "success" and e.kind == KIND_RUN]
    assert len(succeeded) == 1 and "duration_ms" in succeeded[0].impact
    assert succeeded[0].repository == "acme/docs" and succeeded[0].source == "github"

    waiting = world.runs[5]
    assert next(e for e in entries if e.run_id == waiting.run_id).status == "in_progress"
    world.instance.report_run_failed(world.instance.get_run_by_id(waiting.run_id))
    again = _export(world, TimelineFilter(types=("job.run",), statuses=("failure",)))
    assert waiting.run_id in {e.run_id for e in again}


def test_ties_keep_a_stable_order_across_pages(world: World) -> None:
    instant = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    with world.runtime.session() as session:
        for _ in range(250):
            record_activity(session, action=actions.STORE_REBUILT, entity_type="store", at=instant)
    filters = TimelineFilter(until=instant + timedelta(seconds=1))
    entries = _pages(world, filters, limit=7)
    assert len(entries) == 250
    ids = [entry.id for entry in entries]
    assert ids == sorted(ids, reverse=True)


def test_new_rows_go_on_top_without_shifting_later_pages(world: World) -> None:
    with world.runtime.session() as session:
        first = timeline_page(session, world.instance, cursor=None, limit=50)
        second = timeline_page(session, world.instance, cursor=first.next_cursor, limit=50)
    with world.runtime.session() as session:
        for _ in range(10):
            later = world.end + timedelta(minutes=1)
            record_activity(session, action=actions.REINDEX_REQUESTED, entity_type="repository", at=later)
    with world.runtime.session() as session:
        again = timeline_page(session, world.instance, cursor=first.next_cursor, limit=50)
        top = timeline_page(session, world.instance, limit=10)
    assert [e.key for e in again.entries] == [e.key for e in second.entries]
    assert {e.action for e in top.entries} == {actions.REINDEX_REQUESTED}
    assert decode_cursor(first.next_cursor) == first.entries[-1].key


def test_json_shape_of_a_page(world: World) -> None:
    with world.runtime.session() as session:
        page = timeline_page(session, world.instance, TimelineFilter(types=("run.failed",)), limit=5)
    payload = page.to_dict()
    assert set(payload) == {"activity", "next_cursor", "has_more"}
    (row,) = payload["activity"]
    assert list(row) == [
        "id",
        "at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "workspace",
        "source",
        "repository",
        "status",
        "reason",
        "impact",
        "run_id",
        "delivery_id",
    ]
    assert row["repository"] == "acme/docs" and row["workspace"] == "acme" and row["source"] == "github"
    assert row["reason"] == "embedding provider answered 503" and row["at"].endswith("Z")


@pytest.mark.parametrize(
    "make",
    [
        lambda: TimelineFilter(statuses=("done",)),
        lambda: TimelineFilter(sources=("gitlab",)),
        lambda: TimelineFilter(types=("Repository Connected",)),
        lambda: TimelineFilter(since=datetime(2024, 1, 2, tzinfo=UTC), until=datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_bad_filters_are_rejected(make) -> None:
    with pytest.raises(TimelineError):
        make()


def test_bad_cursor_and_limit_are_rejected(world: World) -> None:
    with world.runtime.session() as session:
        for cursor in ("not-a-cursor", "WyJ4Il0"):
            with pytest.raises(TimelineError, match="invalid cursor"):
                timeline_page(session, world.instance, cursor=cursor)
        with pytest.raises(TimelineError, match="limit"):
            timeline_page(session, world.instance, limit=0)


def test_run_filters_are_pushed_to_the_run_storage(world: World) -> None:
    """A repository filter reaches Dagster as a tag filter (no scan of other repositories' runs)."""
    uid = world.catalog.repositories[2].uid
    direct = world.instance.get_run_records(RunsFilter(tags={tags.REPOSITORY: uid}))
    entries = _export(world, TimelineFilter(repository=uid, types=("job.run",)))
    assert {e.run_id for e in entries} == {r.dagster_run.run_id for r in direct} - {
        world.runs[0].run_id,
        world.runs[1].run_id,
    }

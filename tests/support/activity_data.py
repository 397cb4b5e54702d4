"""Generated activity: a small catalog, thousands of activity rows with ties, and real Dagster runs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from dagster import DagsterInstance, DagsterRun, Failure, job, op
from sqlalchemy import insert
from sqlalchemy.orm import Session

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.catalog.models import ActivityEvent, Organization, Repository, Workspace

ACTORS = ("alice", "bob", "system", "carol.ng", "dependabot[bot]")
MESSAGES = (
    "lightfast.yml found at .lightfast/lightfast.yml",
    "no lightfast.yml: repository left unconfigured",
    "push to main: 3 files changed",
    "rate limited by GitHub, retried",
    "100% of documents indexed",
    None,
)
ACTIONS = (
    actions.REPOSITORY_CONNECTED,
    actions.REPOSITORY_DISCONNECTED,
    actions.REPOSITORY_RENAMED,
    actions.CONFIG_DETECTED,
    actions.REINDEX_REQUESTED,
    actions.DELIVERY_RECEIVED,
    actions.INSTALLATION_CREATED,
    actions.STORE_CREATED,
    actions.HEALTH_CHANGED,
    actions.WORKSPACE_CREATED,
)


@op
def noop() -> None:
    """Succeeds."""


@op
def explode() -> None:
    """Fails with a recognisable error."""
    raise Failure("embedding provider answered 503")


HUGE_ERROR = "upstream answered <html> & gave up\n" + "".join(
    f'line {n}: <div class="trace"> & more\n' for n in range(5_000)
)
"""About 190 KB of error text, full of characters that mrkdwn escapes (``<``, ``>``, ``&``)."""


@op
def explode_hugely() -> None:
    """Fails with an error far longer than any Slack block."""
    raise Failure(HUGE_ERROR)


@job
def huge_failure_job() -> None:
    explode_hugely()


@job
def tiny_job() -> None:
    noop()


@job
def failing_job() -> None:
    explode()


@dataclass
class Catalog:
    """Ids of the generated catalog rows."""

    workspaces: dict[str, int]  # slug -> id
    repositories: list[Repository]


def seed_catalog(session: Session) -> Catalog:
    """Two workspaces and four repositories (one renamed since its first events, one local)."""
    org = Organization(name="Acme", slug="acme")
    session.add(org)
    session.flush()
    workspaces = {}
    for slug in ("acme", "beta"):
        workspace = Workspace(organization_id=org.id, name=slug.title(), slug=slug, key=f"key-{slug}")
        session.add(workspace)
        session.flush()
        workspaces[slug] = workspace.id
    specs = [
        ("acme", "github", "101", "acme/docs"),
        ("acme", "local", "u-handbook", "acme/handbook"),
        ("beta", "github", "303", "beta/api-docs"),  # was beta/old-api
        ("beta", "github", "404", "beta/100%_docs"),  # LIKE metacharacters in the name
    ]
    repositories = []
    for index, (slug, source, source_id, name) in enumerate(specs):
        repository = Repository(
            uid=f"{index:02d}" + "ab" * 15,
            workspace_id=workspaces[slug],
            source_type=source,
            source_id=source_id,
            full_name=name,
        )
        session.add(repository)
        repositories.append(repository)
    session.flush()
    return Catalog(workspaces, repositories)


def generate_activity(
    session: Session, catalog: Catalog, count: int, start: datetime, end: datetime, seed: int = 7
) -> None:
    """Insert ``count`` rows between ``start`` and ``end``; about a third share their instant with another."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    instants: list[datetime] = []
    rows = []
    for _ in range(count):
        if instants and rng.random() < 0.35:
            at = rng.choice(instants[-20:])
        else:
            at = start + timedelta(microseconds=int(rng.random() * span * 1_000_000))
            instants.append(at)
        repository = rng.choice([*catalog.repositories, None])
        name = repository.full_name if repository else None
        if repository is not None and name == "beta/api-docs" and rng.random() < 0.5:
            name = "beta/old-api"
        rows.append(
            {
                "at": at,
                "actor": rng.choice(ACTORS),
                "action": rng.choice(ACTIONS),
                "entity_type": "repository" if repository else "workspace",
                "entity_id": repository.uid if repository else None,
                "workspace_id": repository.workspace_id if repository else rng.choice([None, 1, 2]),
                "source_type": repository.source_type if repository else None,
                "repository_id": repository.id if repository else None,
                "repository_name": name,
                "status": rng.choice(("success", "success", "failure", "in_progress")),
                "reason": rng.choice(("manual", "webhook", None)),
                "message": rng.choice(MESSAGES),
                "impact": {"documents": rng.randint(0, 50)},
                "run_id": None,
                "delivery_id": None,
            }
        )
    for offset in range(0, len(rows), 5000):
        session.execute(insert(ActivityEvent), rows[offset : offset + 5000])


def create_runs(instance: DagsterInstance, catalog: Catalog, count: int, seed: int = 11) -> list[DagsterRun]:
    """``count`` real runs of a tiny job (not started), tagged like ingestion runs."""
    rng = random.Random(seed)
    runs = []
    for _ in range(count):
        repository = rng.choice(catalog.repositories)
        slug = "acme" if repository.workspace_id == catalog.workspaces["acme"] else "beta"
        run_tags = {
            tags.TRIGGER: rng.choice(tags.TRIGGERS),
            tags.WORKSPACE: slug,
            tags.REPOSITORY: repository.uid,
            tags.REPOSITORY_NAME: repository.full_name,
        }
        user = rng.choice(("alice", "bob", None))
        if user:
            run_tags[tags.USER] = user
        runs.append(instance.create_run_for_job(job_def=tiny_job, tags=run_tags))
    return runs

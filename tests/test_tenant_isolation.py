"""Issue 14 item 5, at the service level: two workspaces whose repositories have the same names and hold the
same documents. No search, job list or get, statistic, delivery list, activity query or export of one returns
the other's rows — through the CLI's ``--workspace`` and the service functions the CLI and the API share."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lightfast_pipeline.catalog.models import Repository, SourceType, WebhookDelivery
from lightfast_pipeline.metrics.current import bring_current
from lightfast_pipeline.runs.jobs import JobError, get_job, list_jobs
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.hits import hit_dict
from lightfast_pipeline.search.query import search
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.webhooks.store import list_deliveries
from lightfast_pipeline.workspaces.repositories import connect_repository, detect_repository_config
from lightfast_pipeline.workspaces.workspace import create_workspace, get_or_create_organization
from tests.support.api_server import api_environment, cli, cli_json, environment
from tests.support.gitrepo import GitRepo
from tests.support.ingest import ingest

CONFIG = 'version: 1\nstore: docs\ninclude: ["docs/**/*.md"]\n'
SHARED_DOC = "# Guide\n\nThe shared handbook explains deployment and rollback.\n"
WORDS = {"alpha": "walrus", "beta": "narwhal"}  # each only in its own workspace's private document


@dataclass
class Tenant:
    slug: str
    repository_ids: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    github_id: str = ""

    @property
    def private_path(self) -> str:
        return f"docs/{self.slug}-only.md"


@dataclass
class Twins:
    runtime: Runtime
    tenants: dict[str, Tenant]
    root: Path

    def other(self, slug: str) -> Tenant:
        return next(tenant for name, tenant in self.tenants.items() if name != slug)


def _tenant(runtime: Runtime, root: Path, slug: str, github_id: str) -> Tenant:
    with runtime.session() as session:
        create_workspace(session, slug, organization=get_or_create_organization(session), actor="tester")
    tenant = Tenant(slug, github_id=github_id)
    repo = GitRepo(root / slug / "docs")  # both repositories are called "docs"
    repo.write("lightfast.yml", CONFIG)
    repo.write("docs/guide.md", SHARED_DOC)
    repo.write(tenant.private_path, f"# Private\n\nThe {WORDS[slug]} notes of {slug}.\n")
    repo.commit("docs")
    source = LocalGitSource(repo.path)
    row = connect_repository(
        runtime, workspace_name=slug, source=source, source_type="local", location=str(repo.path), actor="tester"
    )
    detect_repository_config(runtime, row.id, source, actor="tester")
    outcome = ingest(runtime, row.id)
    assert outcome.status == "completed", outcome.error
    tenant.repository_ids.append(row.id)
    tenant.run_ids.append(outcome.run_id)
    with runtime.session() as session:
        workspace_id = session.get(Repository, row.id).workspace_id
        github = Repository(
            uid=f"gh{github_id}",
            workspace_id=workspace_id,
            source_type=SourceType.GITHUB.value,
            source_id=github_id,
            full_name="acme/site",  # the same GitHub name in both workspaces (two different repositories)
            active=False,
        )
        session.add(github)
        session.flush()
        tenant.repository_ids.append(github.id)
        session.add(
            WebhookDelivery(
                delivery_id=f"delivery-{slug}",
                event="push",
                github_repository_id=github_id,
                repository_full_name="acme/site",
                payload={},
                status="skipped",
                reason="not connected",
            )
        )
    return tenant


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    root = tmp_path_factory.mktemp("tenants")
    with environment(api_environment(root / "lightfast")):
        runtime = Runtime()
        tenants = {slug: _tenant(runtime, root, slug, github_id) for slug, github_id in (("alpha", "7"), ("beta", "8"))}
        settings = runtime.settings
        bring_current(settings.warehouse_path, runtime.instance, settings.database_url, user="tester")
        try:
            yield Twins(runtime, tenants, root)
        finally:
            runtime.instance.dispose()


SLUGS = pytest.mark.parametrize("slug", ["alpha", "beta"])


@SLUGS
def test_search_returns_only_the_workspace_documents(twins: Twins, slug: str) -> None:
    other = twins.other(slug)
    for query in (f"{WORDS[other.slug]} notes", "shared handbook deployment", WORDS[slug]):
        args = ("search", query, "--workspace", slug, "--top-k", "100", "--all-chunks", "--json")
        hits = cli_json(*args)["results"]
        served = [hit_dict(hit) for hit in search(twins.runtime, query, slug, top_k=100, per_document=False).results]
        for found in (hits, served):
            paths = [hit["path"] for hit in found]
            assert other.private_path not in paths, (query, paths)
            assert paths.count("docs/guide.md") == 1, (query, paths)  # one copy: not the twin's identical chunk
            assert set(paths) <= {"docs/guide.md", twins.tenants[slug].private_path}


@SLUGS
def test_jobs_list_recent_get_and_stats_are_scoped(twins: Twins, slug: str) -> None:
    own, other = twins.tenants[slug], twins.other(slug)
    listed = cli_json("jobs", "list", "--workspace", slug, "--limit", "100", "--json")["jobs"]
    assert [job["id"] for job in listed] == own.run_ids
    assert [job.id for job in list_jobs(twins.runtime.instance, slug, limit=100).jobs] == own.run_ids
    recent = cli_json("jobs", "recent", "--workspace", slug, "--limit", "100", "--json")["jobs"]
    assert [job["id"] for job in recent] == own.run_ids
    stats = cli_json("jobs", "stats", "--workspace", slug, "--json")
    assert stats["total"] == len(own.run_ids), stats

    assert cli_json("jobs", "get", own.run_ids[0], "--workspace", slug, "--json")["workspace"] == slug
    foreign = cli("jobs", "get", other.run_ids[0], "--workspace", slug, "--json")
    unknown = cli("jobs", "get", "f" * 36, "--workspace", slug, "--json")
    assert foreign.exit_code == unknown.exit_code == 1
    assert foreign.output.replace(other.run_ids[0], "ID") == unknown.output.replace("f" * 36, "ID")
    with pytest.raises(JobError, match="no job with id"):
        get_job(twins.runtime.instance, other.run_ids[0], slug)


@SLUGS
def test_statistics_count_only_the_workspace(twins: Twins, slug: str) -> None:
    scoped = cli_json("stats", "--workspace", slug, "--range", "7d", "--no-refresh", "--json")
    everything = cli_json("stats", "--range", "7d", "--no-refresh", "--json")
    assert (scoped["jobs"]["total"], everything["jobs"]["total"]) == (1, 2)
    assert (scoped["documents"]["total"], everything["documents"]["total"]) == (2, 4)
    assert (scoped["sources"]["total"], everything["sources"]["total"]) == (1, 2)  # connected: the local ones
    assert 2 * scoped["documents"]["chunks"] == everything["documents"]["chunks"]


@SLUGS
def test_deliveries_are_scoped(twins: Twins, slug: str) -> None:
    rows = cli_json("webhooks", "deliveries", "--workspace", slug, "--json")["deliveries"]
    assert [row["id"] for row in rows] == [f"delivery-{slug}"]
    assert [row["id"] for row in list_deliveries(twins.runtime, workspace=slug)] == [f"delivery-{slug}"]
    assert len(cli_json("webhooks", "deliveries", "--json")["deliveries"]) == 2
    unknown = cli("webhooks", "deliveries", "--workspace", "gamma")
    assert unknown.exit_code == 1 and "no workspace 'gamma'" in unknown.output


@SLUGS
def test_activity_and_its_export_are_scoped(twins: Twins, slug: str, tmp_path: Path) -> None:
    own, other = twins.tenants[slug], twins.other(slug)
    entries = cli_json("activity", "--workspace", slug, "--limit", "1000", "--json")["activity"]
    assert entries and {entry["workspace"] for entry in entries} == {slug}
    assert {entry["run_id"] for entry in entries if entry["run_id"]} <= set(own.run_ids)
    assert not {entry.get("repository_id") for entry in entries} & set(other.repository_ids)
    for fmt in ("json", "csv"):
        output = tmp_path / f"export.{fmt}"
        result = cli("activity", "--workspace", slug, "--export", fmt, "--output", str(output))
        assert result.exit_code == 0, result.output
        text = output.read_text()
        rows = json.loads(text)["activity"] if fmt == "json" else list(csv.DictReader(text.splitlines()))
        assert [str(row["id"]) for row in rows] == [str(entry["id"]) for entry in entries]
        assert {row["workspace"] for row in rows} == {slug}
        assert not any(run_id in text for run_id in other.run_ids)


@SLUGS
def test_repository_lists_are_scoped(twins: Twins, slug: str) -> None:
    listed = cli_json("repo", "list", "--workspace", slug, "--all", "--json")["repositories"]
    assert sorted(row["id"] for row in listed) == sorted(twins.tenants[slug].repository_ids)
    assert sorted(row["name"] for row in listed) == ["acme/site", "docs"]

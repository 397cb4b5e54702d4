"""Ingestion runs of a repository on the local GitHub server: what a no-op run costs, and how a run ends when
GitHub keeps failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from lightfast_pipeline.catalog.models import MetricPoint, Repository
from lightfast_pipeline.github.connect import connect_github_repository
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from tests.support.github_fixtures import GitHubApp, GitRepo
from tests.support.gitrepo import DEFAULT_CONFIG
from tests.support.ingest import assert_store_equals_ledger, ingest

FULL_NAME = "acme/handbook"


@pytest.fixture
def runtime(lightfast_env: Settings) -> Runtime:
    return Runtime(lightfast_env)


@pytest.fixture
def repository_id(runtime: Runtime, github_app: GitHubApp, tmp_path: Path) -> int:
    """A GitHub repository of three documents and a skipped file, ingested once."""
    git = GitRepo(tmp_path / "handbook")
    git.commit(
        {
            "lightfast.yml": DEFAULT_CONFIG,
            "docs/windows.md": "# Windows\n\nBrowser window frames and title bars explained.\n",
            "docs/menus.md": "# Menus\n\nApplication menu templates and keyboard accelerators.\n",
            "faq.md": "# FAQ\n\nWhy is my app slow? Check background throttling.\n",
            "docs/blob.md": b"\x00\x01binary",
        }
    )
    github_app.server.add_repository(FULL_NAME, git.path, repo_id=777002, installation_id=1)
    repository = connect_github_repository(runtime, FULL_NAME, None, None, "alice")
    first = ingest(runtime, repository.id)
    assert first.status == "completed", first.error
    assert first.documents["added"] == 3 and first.documents["skipped"] == 1
    return repository.id


def api_calls_metric(runtime: Runtime, run_id: str) -> float:
    with runtime.session() as session:
        points = session.scalars(select(MetricPoint).where(MetricPoint.type == "api_calls")).all()
    (point,) = [point for point in points if point.tags.get("run_id") == run_id]
    return point.value


def test_a_run_at_the_last_ingested_commit_stops_after_one_api_call(
    runtime: Runtime, github_app: GitHubApp, repository_id: int
) -> None:
    before = len(github_app.server.requests)
    again = ingest(runtime, repository_id)
    assert again.status == "completed", again.error
    calls = github_app.server.requests[before:]
    assert calls == [("GET", f"/repos/{FULL_NAME}/git/ref/heads/main")]  # the head, nothing else
    with runtime.session() as session:
        documents = session.get(Repository, repository_id).document_count
    assert again.documents == {"added": 0, "modified": 0, "deleted": 0, "unchanged": documents, "skipped": 1}
    assert documents == 3
    assert api_calls_metric(runtime, again.run_id) == 1
    assert assert_store_equals_ledger(runtime, repository_id) > 0  # the skipped file is still remembered too


@pytest.mark.parametrize("status", [502, 503])
def test_a_proxy_error_page_past_the_retries_fails_the_run_with_one_line(
    runtime: Runtime, github_app: GitHubApp, repository_id: int, status: int
) -> None:
    github_app.server.fail_next(5, status=status, html=True)  # every attempt of the first call
    failed = ingest(runtime, repository_id)
    assert failed.status == "failed"
    reason = {502: "Bad Gateway", 503: "Service Unavailable"}[status]
    assert failed.error == (
        "lightfast_pipeline.sources.base.RetryableSourceError: "
        f"GitHub API answered {status} ({reason}) after 5 attempts: GET /repos/{FULL_NAME}/git/ref/heads/main"
    )
    recovered = ingest(runtime, repository_id)  # the service is back: the next run converges
    assert recovered.status == "completed", recovered.error
    assert assert_store_equals_ledger(runtime, repository_id) > 0

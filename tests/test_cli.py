"""The `lightfast` CLI as a user drives it: JSON shapes, errors as one line with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("onboarding.md", "# Onboarding\n\nNew joiners get a laptop and a mentor on day one.\n")
    repo.write("oncall.md", "# On-call\n\n## Paging\n\nThe pager rotates weekly between backend engineers.\n")
    repo.commit("handbook")
    return repo


def test_connect_ingest_search_json(run, repo: GitRepo) -> None:
    connected = run("repo", "connect", str(repo.path), "--json")
    assert connected.exit_code == 0, connected.output
    assert json.loads(connected.stdout)["config_status"] == "configured"

    ingested = run("ingest", "handbook", "--json")
    assert ingested.exit_code == 0, ingested.output
    summary = json.loads(ingested.stdout)
    assert set(summary) == {"run_id", "status", "commit", "documents", "chunks", "batches", "blobs_read"}
    assert (summary["batches"], summary["blobs_read"]) == (1, 2)
    assert summary["status"] == "completed" and summary["commit"] == repo.head()
    assert summary["documents"] == {"added": 2, "modified": 0, "deleted": 0, "unchanged": 0, "skipped": 0}
    assert set(summary["chunks"]) == {"embedded", "reused", "deleted"} and summary["chunks"]["embedded"] == 2

    found = run("search", "who is paged weekly", "--json", "--top-k", "1")
    payload = json.loads(found.stdout)
    # The contract only grows: these fields stay (hybrid search added mode, ranks and the latency breakdown).
    assert set(payload) >= {"results", "latency_ms"}
    assert set(payload["latency_ms"]) >= {"embed", "retrieve", "total"}
    [hit] = payload["results"]
    assert set(hit) >= {"path", "title", "heading", "snippet", "score", "repository"}
    assert (hit["path"], hit["title"], hit["repository"]) == ("oncall.md", "On-call", "handbook")
    assert "pager rotates weekly" in hit["snippet"]

    shown = json.loads(run("repo", "show", "handbook", "--json").stdout)
    assert shown["document_count"] == 2 and shown["last_ingested_commit"] == repo.head()
    assert run("repo", "verify", "handbook").exit_code == 0

    disconnected = json.loads(run("repo", "disconnect", "handbook", "--json").stdout)
    assert disconnected["documents_removed"] == 2 and disconnected["vectors_removed"] == 2
    assert json.loads(run("search", "pager", "--json").stdout)["results"] == []


def test_errors_are_one_line_and_non_zero(run, tmp_path: Path) -> None:
    missing = run("ingest", "nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip().count("\n") == 0 and "no connected repository 'nope'" in missing.stderr
    not_git = tmp_path / "plain"
    not_git.mkdir()
    bad = run("repo", "connect", str(not_git))
    assert bad.exit_code == 1 and "git" in bad.stderr
    assert run("search", "  ").exit_code == 1
    assert run("workspace", "create", "Docs").exit_code == 0
    duplicate = run("workspace", "create", "Docs")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr

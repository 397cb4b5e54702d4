"""Issue 15 item 3 (GitHub): a tree of more than 100,000 entries, truncated the way GitHub truncates it, is
walked to completeness with a known, small number of API calls."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lightfast_pipeline.settings import load_github_settings
from lightfast_pipeline.sources.github import github_source
from tests.support.github_fixtures import GitHubApp
from tests.support.large_repo import generate_repository

GITHUB_LIMIT = 100_000  # entries in one recursive listing before GitHub sets "truncated"
PAGES = 100_000  # + 10,000 excluded files + the config = 110,001 files; with 11,082 folders 121,083 entries


def git_ls_files(path: Path) -> set[tuple[str, str]]:
    """(path, blob id) of every file at HEAD, straight from git."""
    out = subprocess.run(["git", "-C", str(path), "ls-tree", "-r", "HEAD"], capture_output=True, check=True, text=True)
    return {(line.split("\t", 1)[1], line.split()[2]) for line in out.stdout.splitlines()}


@pytest.fixture(scope="module")
def large_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("github-large") / "handbook"
    return path, generate_repository(path, PAGES)


def test_truncated_tree_of_121k_entries_is_walked_completely(
    large_repo: tuple[Path, int], github_app: GitHubApp
) -> None:
    path, files = large_repo
    github_app.server.add_repository("acme/handbook", path, repo_id=9001, installation_id=7)
    github_app.server.switches.truncate_trees_over = GITHUB_LIMIT
    source = github_source(load_github_settings(), "acme/handbook", installation_id="7")

    entries = source.tree(source.head_commit())

    assert len(entries) == files > GITHUB_LIMIT
    assert {(e.path, e.blob_id) for e in entries} == git_ls_files(path)
    tree_calls = [p for p in github_app.server.paths() if "/git/trees/" in p]
    # root and docs/ are truncated (2 calls each), then docs/area-00..39 and assets/ fit in one call each
    assert len(tree_calls) == 2 + 2 + 40 + 1

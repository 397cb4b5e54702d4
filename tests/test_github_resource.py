"""GitHubAppResource resolves its EnvVar-backed configuration inside a real Dagster run."""

from __future__ import annotations

from pathlib import Path

from dagster import asset, materialize

from lightfast_pipeline.resources.github import GitHubAppResource
from lightfast_pipeline.settings import load_github_settings
from tests.support.github_fixtures import GitHubApp, GitRepo


def test_resource_reads_a_repository_in_a_run(tmp_path: Path, github_app: GitHubApp) -> None:
    repo = GitRepo(tmp_path / "r")
    head = repo.commit({"README.md": "# R\n"})
    github_app.server.add_repository("acme/r", repo.path, repo_id=12, installation_id=5)
    seen: dict[str, str] = {}

    @asset
    def head_of_r(github: GitHubAppResource) -> None:
        seen["head"] = github.source("acme/r", "5").head_commit()

    resource = GitHubAppResource.from_settings(load_github_settings())
    assert "PRIVATE KEY" not in repr(resource)
    result = materialize([head_of_r], resources={"github": resource})
    assert result.success
    assert seen["head"] == head

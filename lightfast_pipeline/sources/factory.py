"""Build the Source of a connected repository."""

from __future__ import annotations

from lightfast_pipeline.catalog.models import Repository, SourceType
from lightfast_pipeline.settings import GitHubSettings, Settings
from lightfast_pipeline.sources.base import Source, SourceError
from lightfast_pipeline.sources.local_git import LocalGitSource


def source_for(repository: Repository, settings: Settings, github: GitHubSettings | None = None) -> Source:
    """The source a repository is read from (local git directory or GitHub through the App: ``github``, the
    Dagster resource's, else the environment's). ``settings`` is the process's, for sources that need it."""
    if repository.source_type == SourceType.LOCAL:
        return LocalGitSource(repository.location or "", repository.source_id, repository.default_branch)
    if repository.source_type == SourceType.GITHUB:
        from lightfast_pipeline.settings import load_github_settings
        from lightfast_pipeline.sources.github import source_for_repository

        return source_for_repository(github or load_github_settings(), repository)
    raise SourceError(f"unknown source type {repository.source_type!r}")

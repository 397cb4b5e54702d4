"""GitHub as a source: App authentication, REST client and the ``Source`` implementation."""

from lightfast_pipeline.sources.github.auth import (
    AppCredentials,
    GitHubAuthError,
    InstallationTokens,
    app_jwt,
)
from lightfast_pipeline.sources.github.client import (
    GitHubAPIError,
    GitHubClient,
    GitHubNotFoundError,
    RetryPolicy,
)
from lightfast_pipeline.sources.github.factory import (
    find_installation,
    github_client,
    github_source,
    source_for_repository,
)
from lightfast_pipeline.sources.github.source import GitHubSource

__all__ = [
    "AppCredentials",
    "GitHubAPIError",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubNotFoundError",
    "GitHubSource",
    "InstallationTokens",
    "RetryPolicy",
    "app_jwt",
    "find_installation",
    "github_client",
    "github_source",
    "source_for_repository",
]

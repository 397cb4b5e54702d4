"""Building GitHub clients and sources from the environment's App settings."""

from __future__ import annotations

import threading

from lightfast_pipeline.catalog.models import Repository
from lightfast_pipeline.settings import GitHubSettings
from lightfast_pipeline.sources.base import SourceError
from lightfast_pipeline.sources.github.auth import AppCredentials, InstallationTokens
from lightfast_pipeline.sources.github.client import GitHubClient, GitHubNotFoundError, RetryPolicy
from lightfast_pipeline.sources.github.source import GitHubSource

_token_caches: dict[tuple[str, str], InstallationTokens] = {}
_token_caches_lock = threading.Lock()


def _shared_tokens(api_url: str, app_id: str) -> InstallationTokens:
    """One installation-token cache per App and API host in this process."""
    with _token_caches_lock:
        return _token_caches.setdefault((api_url, app_id), InstallationTokens())


def github_client(
    github: GitHubSettings, installation_id: str | None = None, *, api_url: str | None = None
) -> GitHubClient:
    """A client acting as ``installation_id`` (or as the App itself when None)."""
    credentials = AppCredentials.from_settings(github)
    url = (api_url or github.api_url).rstrip("/")
    return GitHubClient(
        url,
        credentials=credentials,
        installation_id=installation_id,
        tokens=_shared_tokens(url, credentials.app_id),
        policy=RetryPolicy(max_rate_limit_wait=github.rate_limit_max_wait),
    )


def find_installation(github: GitHubSettings, full_name: str, *, api_url: str | None = None) -> str:
    """The id of the App installation that can read ``owner/name``."""
    app_client = github_client(github, api_url=api_url)
    try:
        body = app_client.get_json(f"/repos/{full_name}/installation")
    except GitHubNotFoundError:
        raise SourceError(
            f"the GitHub App is not installed on {full_name}: install it on the repository or its owner"
        ) from None
    return str(body["id"])


def github_source(github: GitHubSettings, full_name: str, installation_id: str | None = None) -> GitHubSource:
    """A source for ``owner/name``, finding the installation when it is not given."""
    installation = installation_id or find_installation(github, full_name)
    return GitHubSource(github_client(github, installation), full_name)


def source_for_repository(github: GitHubSettings, repository: Repository) -> GitHubSource:
    """The source of a connected GitHub repository (its API URL and installation come from the catalog)."""
    api_url = repository.location or github.api_url
    installation = repository.installation_id or find_installation(github, repository.full_name, api_url=api_url)
    client = github_client(github, installation, api_url=api_url)
    return GitHubSource(client, repository.full_name, default_branch=repository.default_branch)

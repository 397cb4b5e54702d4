"""The GitHub App as a Dagster resource: its private key and webhook secrets are ``EnvVar``s, resolved when a
run or a tick starts (the definitions, the UI and the run records see the variables' names only)."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar

from lightfast_pipeline.settings import GitHubSettings
from lightfast_pipeline.sources.github import GitHubClient, GitHubSource, github_client

DEFAULT_API_URL = "https://api.github.com"
SECRET_ENV = {
    "private_key": "GITHUB_APP_PRIVATE_KEY",
    "webhook_secret": "GITHUB_WEBHOOK_SECRET",
    "webhook_secret_previous": "GITHUB_WEBHOOK_SECRET_PREVIOUS",
}


class GitHubAppResource(ConfigurableResource):
    """A GitHub App (id, PEM key or key file, API URL for GitHub Enterprise, webhook secrets); unset: no App."""

    app_id: str | None = None
    private_key: str | None = None
    private_key_path: str | None = None
    webhook_secret: str | None = None
    webhook_secret_previous: str | None = None
    api_url: str = DEFAULT_API_URL
    rate_limit_max_wait_seconds: float = 60.0

    @classmethod
    def from_settings(cls, github: GitHubSettings) -> GitHubAppResource:
        """The configured App; each configured secret bound by its variable's name, never by its value."""
        secrets = {
            "private_key": github.private_key,
            "webhook_secret": github.webhook_secrets[0] if github.webhook_secrets else None,
            "webhook_secret_previous": github.webhook_secrets[1] if len(github.webhook_secrets) > 1 else None,
        }
        return cls(
            app_id=github.app_id,
            private_key_path=github.private_key_path,
            api_url=github.api_url,
            rate_limit_max_wait_seconds=github.rate_limit_max_wait,
            **{name: EnvVar(SECRET_ENV[name]) for name, value in secrets.items() if value},
        )

    def github_settings(self) -> GitHubSettings:
        """These credentials in the form the GitHub client factory takes."""
        return GitHubSettings(
            app_id=self.app_id,
            private_key=self.private_key,
            private_key_path=self.private_key_path,
            webhook_secrets=tuple(s for s in (self.webhook_secret, self.webhook_secret_previous) if s),
            api_url=self.api_url.rstrip("/"),
            rate_limit_max_wait=self.rate_limit_max_wait_seconds,
        )

    def client(self, installation_id: str | None = None) -> GitHubClient:
        """A client acting as the installation (or as the App when None)."""
        return github_client(self.github_settings(), installation_id)

    def source(self, full_name: str, installation_id: str) -> GitHubSource:
        """A source reading ``owner/name`` through the installation."""
        return GitHubSource(self.client(installation_id), full_name)

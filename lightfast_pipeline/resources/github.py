"""The GitHub App as a Dagster resource: credentials come from the environment through ``EnvVar``."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar

from lightfast_pipeline.settings import GitHubSettings, load_github_settings
from lightfast_pipeline.sources.github import GitHubClient, GitHubSource, github_client

ENV_FIELDS = {
    "app_id": "GITHUB_APP_ID",
    "private_key": "GITHUB_APP_PRIVATE_KEY",
    "private_key_path": "GITHUB_APP_PRIVATE_KEY_PATH",
    "api_url": "GITHUB_API_URL",
}


class GitHubAppResource(ConfigurableResource):
    """A GitHub App (id, PEM key or key file, API URL for GitHub Enterprise) that reads repositories."""

    app_id: str
    private_key: str = ""
    private_key_path: str = ""
    api_url: str = "https://api.github.com"
    rate_limit_max_wait_seconds: float = 60.0

    @classmethod
    def from_env(cls) -> GitHubAppResource:
        """Bind every configured ``GITHUB_*`` variable as an ``EnvVar`` (resolved when a run starts)."""
        configured = load_github_settings()
        present = {
            "app_id": configured.app_id,
            "private_key": configured.private_key,
            "private_key_path": configured.private_key_path,
            "api_url": configured.api_url != "https://api.github.com",
        }
        values = {name: EnvVar(env) for name, env in ENV_FIELDS.items() if present[name] or name == "app_id"}
        return cls(**values, rate_limit_max_wait_seconds=configured.rate_limit_max_wait)

    def github_settings(self) -> GitHubSettings:
        """These credentials in the form the client factory takes."""
        return GitHubSettings(
            app_id=self.app_id,
            private_key=self.private_key or None,
            private_key_path=self.private_key_path or None,
            webhook_secrets=(),
            api_url=self.api_url.rstrip("/"),
            rate_limit_max_wait=self.rate_limit_max_wait_seconds,
        )

    def client(self, installation_id: str | None = None) -> GitHubClient:
        """A client acting as the installation (or as the App when None)."""
        return github_client(self.github_settings(), installation_id)

    def source(self, full_name: str, installation_id: str) -> GitHubSource:
        """A source reading ``owner/name`` through the installation."""
        return GitHubSource(self.client(installation_id), full_name)

"""Where notifications go, as a Dagster resource: the webhook URL (it embeds a token) is an ``EnvVar``."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar

from lightfast_pipeline.settings import NotifySettings, load_notify_settings

WEBHOOK_URL_ENV = "LIGHTFAST_NOTIFY_WEBHOOK_URL"


class NotificationsResource(ConfigurableResource):
    """A Slack-compatible webhook (unset: no notifications) and the Dagster UI that run links point at."""

    webhook_url: str | None = None
    dagster_ui_url: str = "http://127.0.0.1:3000"

    @classmethod
    def from_env(cls) -> NotificationsResource:
        """Bind the webhook URL as an ``EnvVar`` when it is configured (resolved when a sensor runs)."""
        configured = load_notify_settings()
        webhook = EnvVar(WEBHOOK_URL_ENV) if configured.webhook_url else None
        return cls(webhook_url=webhook, dagster_ui_url=configured.dagster_ui_url)

    def settings(self) -> NotifySettings:
        """This configuration in the form the notifier takes."""
        return NotifySettings(webhook_url=self.webhook_url or None, dagster_ui_url=self.dagster_ui_url.rstrip("/"))

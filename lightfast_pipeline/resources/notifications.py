"""Where notifications go, as a Dagster resource: the webhook URL (it embeds a token) is an ``EnvVar``."""

from __future__ import annotations

from dagster import ConfigurableResource, EnvVar

from lightfast_pipeline.settings import NotifySettings

WEBHOOK_URL_ENV = "LIGHTFAST_NOTIFY_WEBHOOK_URL"


class NotificationsResource(ConfigurableResource):
    """A Slack-compatible webhook (unset: no notifications) and the Dagster UI that run links point at."""

    webhook_url: str | None = None
    dagster_ui_url: str = "http://127.0.0.1:3000"

    @classmethod
    def from_settings(cls, notify: NotifySettings) -> NotificationsResource:
        """Bind the webhook URL by its variable's name when it is configured (resolved when a sensor runs)."""
        webhook = EnvVar(WEBHOOK_URL_ENV) if notify.webhook_url else None
        return cls(webhook_url=webhook, dagster_ui_url=notify.dagster_ui_url)

    def settings(self) -> NotifySettings:
        """This configuration in the form the notifier takes."""
        return NotifySettings(webhook_url=self.webhook_url or None, dagster_ui_url=self.dagster_ui_url.rstrip("/"))

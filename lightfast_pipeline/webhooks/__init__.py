"""The GitHub webhook receiver: verifies and stores deliveries; the delivery sensor acts on them."""

from lightfast_pipeline.webhooks.app import MAX_BODY_BYTES, WEBHOOK_PATH, ReceiverConfigError, create_app

__all__ = ["MAX_BODY_BYTES", "WEBHOOK_PATH", "ReceiverConfigError", "create_app"]

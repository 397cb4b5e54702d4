"""The service API (`lightfast serve`): FastAPI routers over the same services as the CLI."""

from lightfast_pipeline.api.app import ApiConfig, create_app

__all__ = ["ApiConfig", "create_app"]

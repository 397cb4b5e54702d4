"""`/v1/deliveries`: stored GitHub webhook deliveries about the key's workspace's repositories."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from lightfast_pipeline.api.auth import current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError
from lightfast_pipeline.github.delivery_log import DeliveryError, list_deliveries
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


@router.get("")
def list_(
    status: str | None = Query(None, max_length=20, description="received|processed|skipped|failed"),
    limit: int = Query(50, ge=1, le=1000),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Newest first, with what each delivery caused."""
    try:
        with runtime.session() as session:
            return {
                "deliveries": list_deliveries(session, status=status, limit=limit, workspace=principal.workspace_id)
            }
    except DeliveryError as error:
        raise ApiError(422, str(error)) from None

"""`/v1/github/installations`: the App's installations, validation, their repositories, config detection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends
from fastapi import Path as ApiPath
from pydantic import BaseModel, ConfigDict, Field

from lightfast_pipeline.api.auth import admin_principal, current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError, not_found
from lightfast_pipeline.github import installations
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import RetryableSourceError, SourceError
from lightfast_pipeline.sources.github import GitHubAuthError, GitHubNotFoundError

router = APIRouter(prefix="/v1/github/installations", tags=["github"])
INSTALLATION = ApiPath(..., pattern=r"^[0-9]{1,20}$", description="Installation id.")
T = TypeVar("T")


class DetectBody(BaseModel):
    """The repository to look into (it need not be connected)."""

    model_config = ConfigDict(extra="forbid")
    repository: str = Field(..., max_length=200, pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")


def _github(call: Callable[[], T]) -> T:
    """Map GitHub failures: unknown installation or repository 404, App not configured or GitHub down 503."""
    try:
        return call()
    except (installations.InstallationNotFound, GitHubNotFoundError):
        raise not_found("installation or repository") from None
    except GitHubAuthError as error:
        raise ApiError(503, str(error), code="github_unavailable") from None
    except RetryableSourceError as error:
        raise ApiError(503, str(error), code="github_unavailable", headers={"Retry-After": "30"}) from None
    except SourceError as error:
        raise ApiError(400, str(error)) from None


@router.get("")
def list_(principal: Principal = Depends(current_principal), runtime: Runtime = Depends(runtime_of)) -> dict[str, Any]:
    """Account, type, repository selection, suspended, and how many repositories this workspace connected."""
    return {"installations": _github(lambda: installations.list_installations(runtime, principal.workspace_id))}


@router.post("/{installation_id}/validate")
def validate(
    installation_id: str = INSTALLATION,
    principal: Principal = Depends(admin_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Refresh from GitHub: repositories added and removed since the last validation (recorded as activity)."""
    return _github(
        lambda: installations.validate_installation(runtime, installation_id, principal.workspace_id, principal.actor)
    )


@router.get("/{installation_id}/repositories")
def repositories(
    installation_id: str = INSTALLATION,
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """The repositories the installation can see, each with ``connected`` to this workspace."""
    rows = _github(lambda: installations.installation_repositories(runtime, installation_id, principal.workspace_id))
    return {"repositories": rows}


@router.post("/{installation_id}/detect-config")
def detect_config(
    body: DetectBody,
    installation_id: str = INSTALLATION,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """``lightfast.yml`` of a repository before it is connected (reads only; nothing is recorded)."""
    del principal  # any key may look
    return _github(lambda: installations.detect_before_connect(installation_id, body.repository))

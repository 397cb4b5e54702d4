"""`/v1/repositories`: list, get, connect, detect config, reindex, disconnect (scoped to the key's workspace)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as ApiPath
from pydantic import BaseModel, ConfigDict, Field

from lightfast_pipeline.api.auth import admin_principal, current_principal, runtime_of
from lightfast_pipeline.api.errors import ApiError, not_found
from lightfast_pipeline.catalog.models import Repository, SourceType
from lightfast_pipeline.config.detect import ConfigError
from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import SourceError
from lightfast_pipeline.sources.factory import source_for
from lightfast_pipeline.workspaces.listing import repository_fields
from lightfast_pipeline.workspaces.queries import (
    NotInWorkspace,
    list_repositories,
    repository_in_workspace,
)
from lightfast_pipeline.workspaces.repositories import (
    PROMPT_DISCONNECT_WAIT_SECONDS,
    RepositoryError,
    connect_repository,
    detect_repository_config,
    disconnect_repository,
)

router = APIRouter(prefix="/v1/repositories", tags=["repositories"])
GITHUB_NAME = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
ID = 2**31 - 1  # ids above a 32-bit integer exist nowhere


class ConnectBody(BaseModel):
    """Connect a GitHub repository (``github`` + optional ``installation_id``) or a local path."""

    model_config = ConfigDict(extra="forbid")
    github: str | None = Field(None, max_length=200, description="OWNER/NAME on GitHub.")
    installation_id: str | None = Field(None, max_length=64, pattern=r"^[0-9]+$")
    path: str | None = Field(None, max_length=4096, description="A local git directory (if the server allows).")


def _repository(runtime: Runtime, principal: Principal, repository_id: int) -> dict[str, Any]:
    with runtime.session() as session:
        try:
            return repository_fields(repository_in_workspace(session, principal.workspace_id, repository_id))
        except NotInWorkspace:
            raise not_found("repository") from None


def _connected(runtime: Runtime, principal: Principal, repository_id: int) -> Repository:
    """A connected repository of the key's workspace, detached from its session (404 otherwise)."""
    with runtime.session() as session:
        try:
            repository = repository_in_workspace(session, principal.workspace_id, repository_id)
        except NotInWorkspace:
            raise not_found("repository") from None
        if not repository.active:
            raise not_found("repository")
        session.expunge(repository)
        return repository


@router.get("")
def list_(
    active: bool | None = Query(True, description="true: connected; false: disconnected; omit with all=true."),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """The workspace's repositories."""
    with runtime.session() as session:
        rows = list_repositories(session, principal.workspace_id, active=active)
        return {"repositories": [repository_fields(row) for row in rows]}


@router.get("/{repository_id}")
def get(
    repository_id: int = ApiPath(..., ge=1, le=ID),
    principal: Principal = Depends(current_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """One repository (connected or disconnected)."""
    return _repository(runtime, principal, repository_id)


@router.post("", status_code=201)
def connect(
    body: ConnectBody,
    request: Request,
    principal: Principal = Depends(admin_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Connect a repository to the key's workspace and detect its ``lightfast.yml``."""
    if (body.github is None) == (body.path is None):
        raise ApiError(422, "give exactly one of 'github' (OWNER/NAME) or 'path'")
    try:
        if body.github is not None:
            if not GITHUB_NAME.match(body.github):
                raise ApiError(422, "github: expected OWNER/NAME")
            from lightfast_pipeline.github.connect import connect_github_repository

            repository = connect_github_repository(
                runtime, body.github, principal.workspace_slug, body.installation_id, principal.actor
            )
        else:
            repository = _connect_local(runtime, principal, body.path or "", request.app.state.config.allow_local)
        with runtime.session() as session:
            row = session.get(Repository, repository.id)
            assert row is not None
            source = source_for(row, runtime.settings)
        detect_repository_config(runtime, repository.id, source, actor=principal.actor)
    except (RepositoryError, SourceError, ConfigError) as error:
        raise ApiError(409 if "already connected" in str(error) else 400, str(error)) from None
    return _repository(runtime, principal, repository.id)


def _connect_local(runtime: Runtime, principal: Principal, path_text: str, allowed: bool) -> Repository:
    from lightfast_pipeline.sources.local_git import LocalGitSource

    if not allowed:
        raise ApiError(403, "this server does not connect local paths (start it with --allow-local-paths)")
    path = Path(path_text).expanduser()
    if "\x00" in path_text or not path.is_dir():
        raise ApiError(400, "path: not an existing directory on the server")
    source = LocalGitSource(path)
    source.validate()
    return connect_repository(
        runtime,
        workspace_name=principal.workspace_slug,
        source=source,
        source_type=SourceType.LOCAL.value,
        location=str(path.resolve()),
        actor=principal.actor,
    )


@router.post("/{repository_id}/detect-config")
def detect(
    repository_id: int = ApiPath(..., ge=1, le=ID),
    principal: Principal = Depends(admin_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Re-read ``lightfast.yml`` at the branch head and record the result."""
    repository = _connected(runtime, principal, repository_id)
    try:
        detection = detect_repository_config(
            runtime, repository.id, source_for(repository, runtime.settings), actor=principal.actor
        )
    except SourceError as error:
        raise ApiError(400, str(error)) from None
    return {"status": detection.status, "path": detection.path, "error": detection.error}


@router.post("/{repository_id}/reindex", status_code=202)
def reindex(
    repository_id: int = ApiPath(..., ge=1, le=ID),
    full: bool = Query(False, description="Re-read and re-chunk every file (vectors still reused)."),
    principal: Principal = Depends(admin_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Start an ingestion run now (trigger ``manual``): its id, the files the config matches, its UI link."""
    from lightfast_pipeline.runs.reindex import start_reindex

    repository = _connected(runtime, principal, repository_id)
    try:
        started = start_reindex(runtime, repository.id, actor=principal.actor, full=full)
    except (RepositoryError, SourceError) as error:
        raise ApiError(409, str(error)) from None
    return {"run_id": started.run_id, "matched_files": started.matched_files, "run_url": started.run_url}


@router.delete("/{repository_id}")
def disconnect(
    repository_id: int = ApiPath(..., ge=1, le=ID),
    principal: Principal = Depends(admin_principal),
    runtime: Runtime = Depends(runtime_of),
) -> dict[str, Any]:
    """Disconnect: remove the repository's documents and vectors from the index.

    A run in flight is waited for briefly; past that the repository is disconnected at once (0 removed) and the
    run removes what it wrote as it ends, so a request never hangs on a long run.
    """
    repository = _connected(runtime, principal, repository_id)
    result = disconnect_repository(
        runtime, repository.id, actor=principal.actor, wait_seconds=PROMPT_DISCONNECT_WAIT_SECONDS
    )
    return {
        "id": repository.id,
        "name": repository.full_name,
        "documents_removed": result.documents,
        "vectors_removed": result.vectors,
    }

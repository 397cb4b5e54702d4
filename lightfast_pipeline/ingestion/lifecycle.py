"""Start and end of an ingestion run: lease, crash repair, repository status, metrics."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from lightfast_pipeline.catalog.models import ConfigStatus, Repository
from lightfast_pipeline.ingestion.lease import acquire_lease, release_lease
from lightfast_pipeline.ingestion.repair import repair_from_journal
from lightfast_pipeline.ingestion.stages import IngestReport
from lightfast_pipeline.metrics.record import record_metric
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.workspaces.repositories import remove_repository_index


class RepositoryUnavailable(Exception):
    """The repository is not in a state that allows syncing (disconnected, archived, suspended)."""


def _unavailable(repository: Repository | None, repository_uid: str) -> str | None:
    """Why the repository may not be synced now (None when it may)."""
    if repository is None or not repository.active:
        return f"repository {repository_uid} is not connected"
    if repository.archived:
        return f"{repository.full_name} is archived: syncs are stopped, the index is kept"
    if repository.suspended:
        return f"{repository.full_name} is suspended: syncs are paused"
    return None


def _check_available(runtime: Runtime, repository_uid: str) -> int:
    """The repository's id; RepositoryUnavailable when it may not be synced now."""
    with runtime.session() as session:
        repository = session.scalar(select(Repository).where(Repository.uid == repository_uid))
        reason = _unavailable(repository, repository_uid)
        if reason is not None:
            raise RepositoryUnavailable(reason)
        assert repository is not None
        return repository.id


def begin_ingestion(
    runtime: Runtime,
    repository_uid: str,
    run_id: str,
    is_alive: Callable[[str], bool],
    on_wait: Callable[[str], None] | None = None,
    on_takeover: Callable[[str], None] | None = None,
) -> int:
    """Take the repository's lease and repair what a crashed run left; returns the repository id.

    Availability is checked again once the lease is held: a disconnect holds the lease while it removes the
    index, so a run that waited behind it must not write the repository back.
    """
    repository_id = _check_available(runtime, repository_uid)
    acquire_lease(runtime, repository_id, run_id, is_alive, on_wait=on_wait, on_takeover=on_takeover)
    try:
        _check_available(runtime, repository_uid)
    except RepositoryUnavailable:
        release_lease(runtime, repository_id, run_id)
        raise
    repair_from_journal(runtime, repository_id)
    return repository_id


def end_ingestion(
    runtime: Runtime,
    repository_id: int,
    run_id: str,
    report: IngestReport | None,
    *,
    duration_ms: float | None = None,
    error: BaseException | None = None,
) -> None:
    """Record the run's metrics (counts on success, the error's type on failure) and release the lease, after
    removing the index if the repository was disconnected meanwhile."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        if repository.config_status == ConfigStatus.INGESTING.value:
            repository.config_status = ConfigStatus.CONFIGURED.value
        scope = {
            "workspace_id": repository.workspace_id,
            "repository_id": repository.id,
            "tags": {"run_id": run_id},
        }
        if duration_ms is not None:
            outcome = "failed" if error is not None else "completed"
            record_metric(
                session, "job_duration", duration_ms, **{**scope, "tags": {"run_id": run_id, "outcome": outcome}}
            )
        if error is not None:
            record_metric(
                session, "errors", 1, **{**scope, "tags": {"run_id": run_id, "error_type": type(error).__name__}}
            )
        if report is not None:
            changed = report.documents["added"] + report.documents["modified"]
            record_metric(session, "documents_indexed", changed, **scope)
            record_metric(session, "chunks_embedded", report.chunks["embedded"], **scope)
            if report.api_calls:
                record_metric(
                    session,
                    "api_calls",
                    report.api_calls,
                    **{**scope, "tags": {"run_id": run_id, "provider": "github"}},
                )
    _remove_if_disconnected(runtime, repository_id)
    release_lease(runtime, repository_id, run_id)


def _remove_if_disconnected(runtime: Runtime, repository_id: int) -> None:
    """A disconnect that stopped waiting for this run left the repository's index to it: remove it (what this
    run wrote included) before the lease goes."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        disconnected = repository is not None and not repository.active
    if disconnected:
        remove_repository_index(runtime, repository_id)

"""Connected repositories: connect, find, detect configuration, disconnect."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import (
    Chunk,
    ConfigStatus,
    Document,
    IngestJournal,
    Repository,
    SkippedEntry,
    SourceType,
    Store,
    utcnow,
)
from lightfast_pipeline.config.detect import ConfigDetection, detect_config
from lightfast_pipeline.ingestion.lease import (
    LeaseTimeout,
    acquire_lease,
    maintenance_holder,
    release_lease,
    run_alive_on,
)
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import Source
from lightfast_pipeline.sources.factory import source_for
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.stores.store import delete_vectors
from lightfast_pipeline.workspaces.listing import repository_fields
from lightfast_pipeline.workspaces.workspace import find_workspace


class RepositoryError(Exception):
    """A user-facing problem with a repository request."""


def new_uid() -> str:
    """A short random identifier (repository and document uids; they prefix vector ids)."""
    return uuid.uuid4().hex[:12]


def find_repository(session: Session, ref: str, *, include_inactive: bool = False) -> Repository:
    """A repository by catalog id, uid, full name or short name; ambiguous names are an error."""
    query = select(Repository)
    if not include_inactive:
        query = query.where(Repository.active.is_(True))
    conditions = [Repository.uid == ref, Repository.full_name == ref, Repository.location == ref]
    if ref.isdigit():
        conditions.append(Repository.id == int(ref))
    matches = list(session.scalars(query.where(or_(*conditions))))
    if not matches:
        short = [repo for repo in session.scalars(query) if repo.full_name.rsplit("/", 1)[-1] == ref]
        matches = short
    if not matches:
        raise RepositoryError(f"no connected repository {ref!r} (see `lightfast repo list`)")
    if len(matches) > 1:
        ids = ", ".join(str(repo.id) for repo in matches)
        raise RepositoryError(f"repository {ref!r} is ambiguous (ids {ids}): give its id")
    return matches[0]


def describe_repository(runtime: Runtime, ref: str | int, *, include_inactive: bool = False) -> dict[str, Any]:
    """Public fields of one repository: ``ref`` as :func:`find_repository` takes it, or an ``int`` catalog id
    (any state)."""
    with runtime.session() as session:
        if isinstance(ref, int):
            repository = session.get(Repository, ref)
            if repository is None:
                raise RepositoryError(f"no repository with id {ref}")
        else:
            repository = find_repository(session, ref, include_inactive=include_inactive)
        return repository_fields(repository)


def connect_repository(
    runtime: Runtime,
    *,
    workspace_name: str | None,
    source: Source,
    source_type: str,
    location: str,
    installation_id: str | None = None,
    actor: str = "system",
) -> Repository:
    """Record a repository in a workspace and add its Dagster partition (reconnecting reactivates it)."""
    info = source.repository_info()
    source_id = info.source_id or f"local-{new_uid()}"
    with runtime.session() as session:
        workspace = find_workspace(session, workspace_name)
        identity = Repository.source_id == source_id
        if source_type == SourceType.LOCAL:
            identity = or_(identity, Repository.location == location)
        repository = session.scalar(
            select(Repository).where(
                Repository.workspace_id == workspace.id, Repository.source_type == source_type, identity
            )
        )
        if repository is not None and repository.active:
            raise RepositoryError(f"{info.full_name} is already connected to workspace {workspace.name!r}")
        if repository is None:
            repository = Repository(
                uid=new_uid(), workspace_id=workspace.id, source_type=source_type, source_id=source_id
            )
            session.add(repository)
        repository.full_name = info.full_name
        repository.location = location
        repository.default_branch = info.default_branch
        repository.installation_id = installation_id
        repository.private = info.private
        repository.archived = info.archived
        repository.active = True
        repository.disconnected_at = None
        repository.connected_by = actor
        repository.config_status = ConfigStatus.PENDING.value
        session.flush()
        record_activity(
            session,
            action=actions.REPOSITORY_CONNECTED,
            entity_type="repository",
            entity_id=repository.id,
            actor=actor,
            repository=repository,
            after={"full_name": repository.full_name, "default_branch": repository.default_branch},
        )
    from lightfast_pipeline.jobs.partitions import REPOSITORIES_PARTITION  # Dagster: only when connecting

    runtime.instance.add_dynamic_partitions(REPOSITORIES_PARTITION, [repository.uid])
    return repository


def connect_local_repository(runtime: Runtime, path: Path, workspace_name: str | None, actor: str) -> Repository:
    """Connect the git repository in directory ``path`` (checked to be one first)."""
    source = LocalGitSource(path)
    source.validate()
    return connect_repository(
        runtime,
        workspace_name=workspace_name,
        source=source,
        source_type=SourceType.LOCAL.value,
        location=str(path.resolve()),
        actor=actor,
    )


def apply_config_detection(
    session: Session,
    repository: Repository,
    detection: ConfigDetection,
    *,
    actor: str = "system",
    run_id: str | None = None,
    commit: str | None = None,
) -> None:
    """Store a detection result (and the commit it was read at) on the repository; record it as activity when it
    changed."""
    status = detection.status
    changed = (
        repository.config_status not in (status, ConfigStatus.INGESTING.value)
        or repository.config_path != detection.path
        or repository.config_error != detection.error
    )
    repository.config_status = status
    repository.config_path = detection.path
    repository.config_error = detection.error
    repository.config_detected_at = utcnow()
    repository.config_commit = commit
    if changed:
        record_activity(
            session,
            action=actions.CONFIG_DETECTED,
            entity_type="repository",
            entity_id=repository.id,
            actor=actor,
            repository=repository,
            status="failure" if status == ConfigStatus.ERROR.value else "success",
            reason=status,
            message=detection.error or (f"found {detection.path}" if detection.path else "no lightfast.yml"),
            run_id=run_id,
        )


def detect_repository_config(
    runtime: Runtime, repository_id: int, source: Source, *, actor: str = "system"
) -> ConfigDetection:
    """Read ``lightfast.yml`` at the branch head and record the result."""
    commit = source.head_commit()
    detection = detect_config(lambda path: source.read_file(commit, path))
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        apply_config_detection(session, repository, detection, actor=actor, commit=commit)
    return detection


def redetect_config(runtime: Runtime, repository_id: int, *, actor: str = "system") -> ConfigDetection:
    """Read the repository's ``lightfast.yml`` at its branch head through its own source, and record it."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        if repository is None:
            raise RepositoryError(f"no repository with id {repository_id}")
        source = source_for(repository, runtime.settings)
    return detect_repository_config(runtime, repository_id, source, actor=actor)


@dataclass(frozen=True)
class DisconnectResult:
    documents: int
    vectors: int


def remove_repository_index(runtime: Runtime, repository_id: int) -> DisconnectResult:
    """Delete every document, ledger row and vector of a repository (vectors first, so none is orphaned) and
    reset its counters and last ingested commit."""
    with runtime.session() as session:
        rows = session.execute(
            select(Store.namespace, Chunk.vector_id)
            .join(Store, Store.id == Chunk.store_id)
            .where(Chunk.repository_id == repository_id)
        ).all()
        journals = session.scalars(
            select(IngestJournal.vector_ids).where(IngestJournal.repository_id == repository_id)
        ).all()
        documents = session.scalar(
            select(func.count()).select_from(Document).where(Document.repository_id == repository_id)
        )
    by_namespace: dict[str, list[str]] = {}
    for namespace, vector_id in rows:
        by_namespace.setdefault(namespace, []).append(vector_id)
    for journal in journals:
        for namespace, vector_ids in journal.items():
            by_namespace.setdefault(namespace, []).extend(vector_ids)
    for namespace, vector_ids in by_namespace.items():
        delete_vectors(runtime.vector_store, namespace, vector_ids)
    with runtime.session() as session:
        session.execute(delete(Chunk).where(Chunk.repository_id == repository_id))
        session.execute(delete(Document).where(Document.repository_id == repository_id))
        session.execute(delete(SkippedEntry).where(SkippedEntry.repository_id == repository_id))
        session.execute(delete(IngestJournal).where(IngestJournal.repository_id == repository_id))
        repository = session.get(Repository, repository_id)
        assert repository is not None
        repository.document_count = repository.chunk_count = 0
        repository.last_ingested_commit = None  # nothing ingested: a reconnect reads the whole tree again
    return DisconnectResult(documents=documents or 0, vectors=len(rows))


DISCONNECT_WAIT_SECONDS = 3600.0
"""How long `lightfast repo disconnect` waits for a run in flight to commit (it says it is waiting)."""
PROMPT_DISCONNECT_WAIT_SECONDS = 10.0
"""The wait of callers that must answer promptly (the delivery sensor, the HTTP API); past it the disconnect is
recorded and the run in flight removes the index itself as it ends."""


def _take_lease_to_disconnect(
    runtime: Runtime, repository_id: int, wait_seconds: float, on_wait: Callable[[str], None] | None
) -> str | None:
    """Mark the repository inactive (no run starts any more), then take its lease, waiting for a run in flight to
    commit and release it; returns the holder, or None when the run kept it past ``wait_seconds`` (that run
    removes the index as it ends, ``ingestion/lifecycle.py``)."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        repository.active = False
    holder = maintenance_holder("disconnect")
    try:
        acquire_lease(runtime, repository_id, holder, run_alive_on(runtime), wait_seconds=wait_seconds, on_wait=on_wait)
    except LeaseTimeout:
        return None
    return holder


def disconnect_repository(
    runtime: Runtime,
    repository_id: int,
    *,
    actor: str = "system",
    reason: str = "disconnected by user",
    action: str = actions.REPOSITORY_DISCONNECTED,
    delivery_id: str | None = None,
    wait_seconds: float = DISCONNECT_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> DisconnectResult:
    """Remove a repository's documents and vectors from the index and mark it disconnected.

    Holds the repository's lease while it removes the index: a run in flight finishes its commit first (its
    writes are then removed too) and a run waiting for the lease finds the repository disconnected. ``on_wait``
    is called with the holder's run id when it has to wait; past ``wait_seconds`` the disconnect is recorded
    and the run, which finds its repository disconnected as it ends, removes the index itself.
    """
    holder = _take_lease_to_disconnect(runtime, repository_id, wait_seconds, on_wait)
    if holder is None:
        # The partition stays: the run in flight still materialises it (a later run refuses the repository).
        nothing = DisconnectResult(0, 0)
        return _record_disconnect(runtime, repository_id, nothing, actor, reason, action, delivery_id, partition=False)
    try:
        result = remove_repository_index(runtime, repository_id)
        return _record_disconnect(runtime, repository_id, result, actor, reason, action, delivery_id)
    finally:
        release_lease(runtime, repository_id, holder)


def _record_disconnect(
    runtime: Runtime,
    repository_id: int,
    result: DisconnectResult,
    actor: str,
    reason: str,
    action: str,
    delivery_id: str | None,
    *,
    partition: bool = True,
) -> DisconnectResult:
    """Mark the repository disconnected (counters, activity row) and, with ``partition``, drop its Dagster
    partition."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        repository.active = False
        repository.disconnected_at = utcnow()
        repository.document_count = 0
        repository.chunk_count = 0
        repository.last_ingested_commit = None
        record_activity(
            session,
            action=action,
            entity_type="repository",
            entity_id=repository.id,
            actor=actor,
            repository=repository,
            reason=reason,
            impact={"documents": result.documents, "chunks": result.vectors},
            delivery_id=delivery_id,
        )
        uid = repository.uid
    from lightfast_pipeline.jobs.partitions import REPOSITORIES_PARTITION

    if partition and runtime.instance.has_dynamic_partition(REPOSITORIES_PARTITION, uid):
        runtime.instance.delete_dynamic_partition(REPOSITORIES_PARTITION, uid)
    return result

"""What a stored GitHub delivery means: a sync to request, a catalog change, or nothing (with the reason).

``handle_delivery`` is called by the delivery sensor for each delivery in order. Catalog changes (rename,
archive, suspension, disconnects) are applied here and recorded as activity; syncs are returned as
``PlannedRun`` values for the sensor to turn into run requests. Every handler is idempotent, so a delivery
evaluated twice (a tick whose cursor was lost) changes nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import DeliveryStatus, Integration, Repository, SourceType, utcnow
from lightfast_pipeline.config.detect import CONFIG_FILENAMES
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.workspaces.repositories import PROMPT_DISCONNECT_WAIT_SECONDS, disconnect_repository

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class PlannedRun:
    """A sync of one repository caused by a delivery."""

    repository_uid: str
    repository_name: str
    workspace_slug: str
    user: str


@dataclass
class Outcome:
    """What a delivery caused: its final status, why, and the syncs to request."""

    status: DeliveryStatus
    reason: str
    runs: list[PlannedRun] = field(default_factory=list)
    repository_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """The fields of a stored delivery a handler reads."""

    delivery_id: str
    event: str
    action: str | None
    payload: dict[str, Any]
    received_at: datetime | None = None  # when the receiver stored it: a push's commit was on GitHub by then

    @property
    def sender(self) -> str:
        sender = self.payload.get("sender")
        return str(sender.get("login")) if isinstance(sender, dict) and sender.get("login") else "github"

    @property
    def repository_id(self) -> str | None:
        repo = self.payload.get("repository")
        return str(repo["id"]) if isinstance(repo, dict) and repo.get("id") is not None else None

    @property
    def installation_id(self) -> str | None:
        installation = self.payload.get("installation")
        if isinstance(installation, dict) and installation.get("id") is not None:
            return str(installation["id"])
        return None


def _skipped(reason: str) -> Outcome:
    return Outcome(DeliveryStatus.SKIPPED, reason)


def _connected(session: Session, source_id: str | None) -> list[Repository]:
    """Active GitHub repositories with this immutable id (one per workspace that connected it)."""
    if source_id is None:
        return []
    query = select(Repository).where(
        Repository.source_type == SourceType.GITHUB.value,
        Repository.source_id == source_id,
        Repository.active.is_(True),
    )
    return list(session.scalars(query.order_by(Repository.id)))


def planned_run(repository: Repository, user: str) -> PlannedRun:
    """The sync of ``repository`` (its partition key is its uid)."""
    return PlannedRun(repository.uid, repository.full_name, repository.workspace.slug, user)


def sync_blocker(repository: Repository) -> str | None:
    """Why the repository must not sync now, or None."""
    if repository.archived:
        return f"{repository.full_name} is archived: no syncs"
    if repository.suspended:
        return f"{repository.full_name}: installation suspended, syncs paused"
    return None


# -- push ----------------------------------------------------------------------------------------------
def _touches_config(payload: dict[str, Any]) -> bool:
    for commit in payload.get("commits") or []:
        for key in ("added", "modified", "removed"):
            if any(path in CONFIG_FILENAMES for path in commit.get(key) or []):
                return True
    return False


def _push(runtime: Runtime, delivery: Delivery) -> Outcome:
    payload = delivery.payload
    ref = str(payload.get("ref") or "")
    if ref.startswith("refs/tags/"):
        return _skipped(f"tag {'deletion' if payload.get('deleted') else 'push'} ({ref})")
    if payload.get("deleted") or payload.get("after") == ZERO_SHA:
        return _skipped(f"branch deleted ({ref})")
    if not ref.startswith("refs/heads/"):
        return _skipped(f"ref {ref!r} is not a branch")
    branch = ref.removeprefix("refs/heads/")
    pusher = payload.get("pusher")
    user = str(pusher.get("name")) if isinstance(pusher, dict) and pusher.get("name") else delivery.sender
    with runtime.session() as session:
        repositories = _connected(session, delivery.repository_id)
        if not repositories:
            return _skipped("repository not connected")
        runs: list[PlannedRun] = []
        reasons: list[str] = []
        after = str(payload.get("after") or "")
        for repository in repositories:
            if branch != repository.default_branch:
                reasons.append(f"push to {branch}, not the default branch {repository.default_branch}")
            elif blocker := sync_blocker(repository):
                reasons.append(blocker)
            elif after and after == repository.last_ingested_commit:
                reasons.append(f"{after[:12]} is already indexed")
            else:
                runs.append(planned_run(repository, user))
        ids = [repository.id for repository in repositories]
    if not runs:
        return Outcome(DeliveryStatus.SKIPPED, "; ".join(dict.fromkeys(reasons)), repository_ids=ids)
    reason = "sync requested"
    if _touches_config(payload):
        reason += "; lightfast.yml changed: re-detected by the run"
    if payload.get("forced"):
        reason += " (force push: the run diffs trees)"
    return Outcome(DeliveryStatus.PROCESSED, reason, runs, ids)


# -- repository ----------------------------------------------------------------------------------------
REPOSITORY_FLAGS = {
    "archived": ("archived", True, actions.REPOSITORY_ARCHIVED),
    "unarchived": ("archived", False, actions.REPOSITORY_UNARCHIVED),
    "privatized": ("private", True, actions.REPOSITORY_VISIBILITY_CHANGED),
    "publicized": ("private", False, actions.REPOSITORY_VISIBILITY_CHANGED),
}


def _repository(runtime: Runtime, delivery: Delivery) -> Outcome:
    action = delivery.action or ""
    payload = delivery.payload
    if action in ("deleted",):
        return _disconnect_all(
            runtime,
            delivery,
            delivery.repository_id,
            actions.REPOSITORY_DELETED,
            "repository deleted on GitHub",
        )
    with runtime.session() as session:
        repositories = _connected(session, delivery.repository_id)
        if not repositories:
            return _skipped("repository not connected")
        ids = [repository.id for repository in repositories]
        new_name = str(payload["repository"].get("full_name") or "")
        if action in ("renamed", "transferred"):
            kind = actions.REPOSITORY_RENAMED if action == "renamed" else actions.REPOSITORY_TRANSFERRED
            for repository in repositories:
                before = repository.full_name
                if before == new_name:
                    continue
                repository.full_name = new_name
                if action == "transferred" and delivery.installation_id:
                    repository.installation_id = delivery.installation_id
                _record(
                    session,
                    delivery,
                    kind,
                    repository,
                    before={"full_name": before},
                    after={"full_name": new_name},
                )
            return Outcome(DeliveryStatus.PROCESSED, f"{action}: now {new_name}; index unchanged", repository_ids=ids)
        if action in REPOSITORY_FLAGS:
            column, value, kind = REPOSITORY_FLAGS[action]
            for repository in repositories:
                if getattr(repository, column) != value:
                    before = {column: getattr(repository, column)}
                    setattr(repository, column, value)
                    _record(session, delivery, kind, repository, before=before, after={column: value})
            consequence = {"archived": "no more syncs, index kept", "unarchived": "syncs resume"}.get(action, "")
            return Outcome(DeliveryStatus.PROCESSED, f"{action} {consequence}".strip(), repository_ids=ids)
        changes = payload.get("changes") or {}
        if action == "edited" and "default_branch" in changes:
            branch = str(payload["repository"].get("default_branch"))
            runs = []
            for repository in repositories:
                repository.default_branch = branch
                if sync_blocker(repository) is None:
                    runs.append(planned_run(repository, delivery.sender))
            return Outcome(DeliveryStatus.PROCESSED, f"default branch is now {branch}: sync requested", runs, ids)
    return Outcome(DeliveryStatus.SKIPPED, f"repository {action}: nothing indexed changes", repository_ids=ids)


# -- installation --------------------------------------------------------------------------------------
def _integration(session: Session, payload: dict[str, Any]) -> Integration:
    data = payload.get("installation") or {}
    external_id = str(data.get("id"))
    integration = session.scalar(
        select(Integration).where(Integration.provider == "github", Integration.external_id == external_id)
    )
    if integration is None:
        integration = Integration(provider="github", external_id=external_id)
        session.add(integration)
    account = data.get("account") or {}
    integration.account_login = account.get("login") or integration.account_login
    integration.account_type = account.get("type") or integration.account_type
    integration.repository_selection = data.get("repository_selection") or integration.repository_selection
    session.flush()
    return integration


def _installation_repositories(session: Session, installation_id: str) -> list[Repository]:
    query = select(Repository).where(
        Repository.source_type == SourceType.GITHUB.value,
        Repository.installation_id == installation_id,
        Repository.active.is_(True),
    )
    return list(session.scalars(query.order_by(Repository.id)))


def _installation(runtime: Runtime, delivery: Delivery) -> Outcome:
    action = delivery.action or ""
    installation_id = delivery.installation_id
    if installation_id is None:
        return _skipped("installation event without installation id")
    if action == "deleted":
        with runtime.session() as session:
            integration = _integration(session, delivery.payload)
            integration.status = "deleted"
            _record_integration(session, delivery, actions.INSTALLATION_DELETED, integration)
        return _disconnect_installation(runtime, delivery, installation_id, "GitHub App uninstalled")
    with runtime.session() as session:
        integration = _integration(session, delivery.payload)
        repositories = _installation_repositories(session, installation_id)
        ids = [repository.id for repository in repositories]
        if action == "created":
            _record_integration(session, delivery, actions.INSTALLATION_CREATED, integration)
            count = len(delivery.payload.get("repositories") or [])
            return Outcome(DeliveryStatus.PROCESSED, f"installation recorded ({count} repositories selectable)")
        if action in ("suspend", "unsuspend"):
            suspended = action == "suspend"
            integration.status = "suspended" if suspended else "active"
            integration.suspended_at = utcnow() if suspended else None
            kind = actions.INSTALLATION_SUSPENDED if suspended else actions.INSTALLATION_UNSUSPENDED
            _record_integration(session, delivery, kind, integration, impact={"repositories": len(ids)})
            runs = []
            for repository in repositories:
                repository.suspended = suspended
                if not suspended and sync_blocker(repository) is None:
                    runs.append(planned_run(repository, delivery.sender))  # catch up on pushes missed meanwhile
            reason = "syncs paused" if suspended else "syncs resumed: catch-up sync requested"
            return Outcome(DeliveryStatus.PROCESSED, f"{reason} for {len(ids)} repositories", runs, ids)
    return Outcome(DeliveryStatus.PROCESSED, f"installation {action}: integration updated", repository_ids=ids)


def _installation_repos_changed(runtime: Runtime, delivery: Delivery) -> Outcome:
    installation_id = delivery.installation_id
    payload = delivery.payload
    added = payload.get("repositories_added") or []
    removed = payload.get("repositories_removed") or []
    with runtime.session() as session:
        integration = _integration(session, payload)
        if added:
            _record_integration(
                session,
                delivery,
                actions.INSTALLATION_REPOSITORIES_ADDED,
                integration,
                impact={"repositories": [repo.get("full_name") for repo in added]},
            )
        if removed:
            _record_integration(
                session,
                delivery,
                actions.INSTALLATION_REPOSITORIES_REMOVED,
                integration,
                impact={"repositories": [repo.get("full_name") for repo in removed]},
            )
    outcomes = [
        _disconnect_all(
            runtime,
            delivery,
            str(repo.get("id")),
            actions.REPOSITORY_DISCONNECTED,
            "repository removed from the GitHub App installation",
            installation_id=installation_id,
        )
        for repo in removed
    ]
    ids = [repository_id for outcome in outcomes for repository_id in outcome.repository_ids]
    reason = f"{len(added)} added (connect with `lightfast repo connect`), {len(removed)} removed"
    if ids:
        reason += f"; disconnected {len(ids)}"
    return Outcome(DeliveryStatus.PROCESSED, reason, repository_ids=ids)


# -- disconnects and activity --------------------------------------------------------------------------
def _disconnect(runtime: Runtime, delivery: Delivery, ids: list[int], action: str, reason: str) -> Outcome:
    removed = {"documents": 0, "vectors": 0}
    for repository_id in ids:
        result = disconnect_repository(
            runtime,
            repository_id,
            actor=delivery.sender,
            reason=reason,
            action=action,
            delivery_id=delivery.delivery_id,
            wait_seconds=PROMPT_DISCONNECT_WAIT_SECONDS,
        )
        removed["documents"] += result.documents
        removed["vectors"] += result.vectors
    if not ids:
        return _skipped("repository not connected")
    message = f"{reason}: disconnected {len(ids)}, removed {removed['documents']} documents"
    message += f", {removed['vectors']} vectors"
    return Outcome(DeliveryStatus.PROCESSED, message, repository_ids=ids)


def _disconnect_all(
    runtime: Runtime,
    delivery: Delivery,
    source_id: str | None,
    action: str,
    reason: str,
    *,
    installation_id: str | None = None,
) -> Outcome:
    with runtime.session() as session:
        repositories = _connected(session, source_id)
        ids = [r.id for r in repositories if installation_id is None or r.installation_id in (None, installation_id)]
    return _disconnect(runtime, delivery, ids, action, reason)


def _disconnect_installation(runtime: Runtime, delivery: Delivery, installation_id: str, reason: str) -> Outcome:
    with runtime.session() as session:
        ids = [repository.id for repository in _installation_repositories(session, installation_id)]
    if not ids:
        return Outcome(DeliveryStatus.PROCESSED, f"{reason}: no connected repositories")
    return _disconnect(runtime, delivery, ids, actions.REPOSITORY_DISCONNECTED, reason)


def _record(
    session: Session,
    delivery: Delivery,
    action: str,
    repository: Repository,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    record_activity(
        session,
        action=action,
        entity_type="repository",
        entity_id=repository.id,
        actor=delivery.sender,
        repository=repository,
        before=before,
        after=after,
        delivery_id=delivery.delivery_id,
    )


def _record_integration(
    session: Session,
    delivery: Delivery,
    action: str,
    integration: Integration,
    impact: dict[str, Any] | None = None,
) -> None:
    record_activity(
        session,
        action=action,
        entity_type="integration",
        entity_id=integration.id,
        actor=delivery.sender,
        source_type=SourceType.GITHUB.value,
        message=f"installation {integration.external_id} ({integration.account_login or 'unknown account'})",
        impact=impact,
        delivery_id=delivery.delivery_id,
    )


HANDLERS: dict[str, Callable[[Runtime, Delivery], Outcome]] = {
    "push": _push,
    "repository": _repository,
    "installation": _installation,
    "installation_repositories": _installation_repos_changed,
}


def handle_delivery(runtime: Runtime, delivery: Delivery) -> Outcome:
    """Decide and apply what one delivery causes (never raises for an unknown event: it is skipped)."""
    if delivery.event == "ping":
        return _skipped("ping: webhook configured")
    handler = HANDLERS.get(delivery.event)
    if handler is None:
        return _skipped(f"event {delivery.event!r} is not used")
    return handler(runtime, delivery)

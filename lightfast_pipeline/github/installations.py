"""The GitHub App's installations: list, validate (refresh, with added and removed counts), their repositories,
and config detection in a repository before it is connected. The CLI and the API call these functions.

Installations belong to the App (the deployment), not to one workspace; what is counted per workspace is
which of their repositories that workspace has connected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import InstallationRepository, Integration, Repository, SourceType, utcnow
from lightfast_pipeline.config.detect import detect_config
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_github_settings
from lightfast_pipeline.sources.github import GitHubClient, GitHubNotFoundError, GitHubSource, github_client

PER_PAGE = 100


class InstallationNotFound(LookupError):
    """The App has no installation with this id, or the installation cannot see the repository."""


def _pages(client: GitHubClient, path: str, key: str | None) -> Iterator[dict[str, Any]]:
    """Every item of a paginated list endpoint (``key`` names the list inside the body, None: the body)."""
    page = 1
    while True:
        body = client.get_json(path, params={"per_page": PER_PAGE, "page": page})
        items = body if key is None else body.get(key, [])
        yield from items
        if len(items) < PER_PAGE:
            return
        page += 1


def _connected_counts(session: Session, workspace_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Repository.installation_id, func.count())
        .where(Repository.workspace_id == workspace_id, Repository.active.is_(True))
        .where(Repository.source_type == SourceType.GITHUB.value)
        .group_by(Repository.installation_id)
    )
    return {str(installation): count for installation, count in rows if installation}


def _store_integration(session: Session, item: dict[str, Any]) -> Integration:
    external_id = str(item["id"])
    integration = session.scalar(
        select(Integration).where(Integration.provider == "github", Integration.external_id == external_id)
    )
    if integration is None:
        integration = Integration(provider="github", external_id=external_id)
        session.add(integration)
    account = item.get("account") or {}
    integration.account_login = account.get("login")
    integration.account_type = account.get("type")
    integration.repository_selection = item.get("repository_selection")
    integration.status = "suspended" if item.get("suspended_at") else "active"
    return integration


def installation_dict(item: dict[str, Any], connected: int) -> dict[str, Any]:
    """The public fields of an installation."""
    account = item.get("account") or {}
    return {
        "id": str(item["id"]),
        "account": account.get("login"),
        "account_type": account.get("type"),
        "repository_selection": item.get("repository_selection"),
        "suspended": bool(item.get("suspended_at")),
        "repositories_connected": connected,
    }


def list_installations(runtime: Runtime, workspace_id: int) -> list[dict[str, Any]]:
    """The App's installations as GitHub reports them now (recorded in the catalog's integrations)."""
    items = list(_pages(github_client(load_github_settings()), "/app/installations", None))
    with runtime.session() as session:
        counts = _connected_counts(session, workspace_id)
        for item in items:
            _store_integration(session, item)
    return [installation_dict(item, counts.get(str(item["id"]), 0)) for item in items]


def _installation(installation_id: str) -> dict[str, Any]:
    try:
        return github_client(load_github_settings()).get_json(f"/app/installations/{installation_id}")
    except GitHubNotFoundError:
        raise InstallationNotFound(f"no installation {installation_id} of this GitHub App") from None


def _visible_repositories(installation_id: str) -> list[dict[str, Any]]:
    client = github_client(load_github_settings(), installation_id)
    return list(_pages(client, "/installation/repositories", "repositories"))


def validate_installation(runtime: Runtime, installation_id: str, workspace_id: int, actor: str) -> dict[str, Any]:
    """Refresh an installation from GitHub: which repositories it can see now, compared with the last time.

    The counts (and names) of added and removed repositories are returned and recorded as an
    ``installation.validated`` activity row of the workspace.
    """
    item = _installation(installation_id)
    visible = {str(repo["id"]): repo["full_name"] for repo in _visible_repositories(installation_id)}
    with runtime.session() as session:
        integration = _store_integration(session, item)
        known = {
            row.github_repository_id: row.full_name
            for row in session.scalars(
                select(InstallationRepository).where(InstallationRepository.installation_id == installation_id)
            )
        }
        added = sorted(visible[key] for key in visible.keys() - known.keys())
        removed = sorted(known[key] for key in known.keys() - visible.keys())
        session.execute(delete(InstallationRepository).where(InstallationRepository.installation_id == installation_id))
        now = utcnow()
        session.add_all(
            InstallationRepository(
                installation_id=installation_id, github_repository_id=key, full_name=name, seen_at=now
            )
            for key, name in visible.items()
        )
        session.flush()
        record_activity(
            session,
            action=actions.INSTALLATION_VALIDATED,
            entity_type="integration",
            entity_id=integration.id,
            actor=actor,
            workspace_id=workspace_id,
            source_type=SourceType.GITHUB.value,
            message=f"{len(added)} added, {len(removed)} removed",
            impact={"added": len(added), "removed": len(removed), "repositories": len(visible)},
            after={"added": added, "removed": removed},
        )
        counts = _connected_counts(session, workspace_id)
    return {
        **installation_dict(item, counts.get(installation_id, 0)),
        "repositories": len(visible),
        "added": len(added),
        "removed": len(removed),
        "added_repositories": added,
        "removed_repositories": removed,
    }


def installation_repositories(runtime: Runtime, installation_id: str, workspace_id: int) -> list[dict[str, Any]]:
    """The repositories an installation can see, each with ``connected`` (to this workspace, now)."""
    _installation(installation_id)
    repos = _visible_repositories(installation_id)
    with runtime.session() as session:
        connected = set(
            session.scalars(
                select(Repository.source_id).where(
                    Repository.workspace_id == workspace_id,
                    Repository.source_type == SourceType.GITHUB.value,
                    Repository.active.is_(True),
                )
            )
        )
    return [
        {
            "id": str(repo["id"]),
            "full_name": repo["full_name"],
            "private": bool(repo.get("private")),
            "archived": bool(repo.get("archived")),
            "default_branch": repo.get("default_branch"),
            "connected": str(repo["id"]) in connected,
        }
        for repo in repos
    ]


def detect_before_connect(installation_id: str, full_name: str) -> dict[str, Any]:
    """Look for ``lightfast.yml`` at the head of a repository's default branch; nothing is recorded."""
    _installation(installation_id)
    client = github_client(load_github_settings(), installation_id)
    try:
        client.get_json(f"/repos/{full_name}")
    except GitHubNotFoundError:
        raise InstallationNotFound(f"installation {installation_id} cannot see {full_name}") from None
    source = GitHubSource(client, full_name)
    commit = source.head_commit()
    detection = detect_config(lambda path: source.read_file(commit, path))
    return {
        "repository": full_name,
        "commit": commit,
        "status": detection.status,
        "path": detection.path,
        "error": detection.error,
        "store": detection.config.store if detection.config else None,
    }

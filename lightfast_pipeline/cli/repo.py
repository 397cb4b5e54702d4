"""`lightfast repo …`: connect, list, show, detect-config, verify, disconnect."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from lightfast_pipeline.catalog.models import Repository, SourceType
from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors
from lightfast_pipeline.config.detect import ConfigError
from lightfast_pipeline.index.truth import IndexTruth
from lightfast_pipeline.ingestion.lease import (
    LeaseTimeout,
    acquire_lease,
    maintenance_holder,
    release_lease,
    run_alive_on,
)
from lightfast_pipeline.ingestion.repair import Repaired, repair_from_journal, repair_index
from lightfast_pipeline.ingestion.verify import index_truth
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import SourceError
from lightfast_pipeline.sources.factory import source_for
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.stores.store import StoreError
from lightfast_pipeline.workspaces.repositories import (
    RepositoryError,
    connect_repository,
    detect_repository_config,
    disconnect_repository,
    find_repository,
)
from lightfast_pipeline.workspaces.workspace import WorkspaceError

app = typer.Typer(help="Connect and manage repositories.", no_args_is_help=True)
ERRORS = (RepositoryError, WorkspaceError, SourceError, ConfigError, StoreError)
GITHUB_NAME = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")


def repository_dict(repository: Repository) -> dict:
    """The public fields of a repository (CLI JSON)."""
    return {
        "id": repository.id,
        "uid": repository.uid,
        "name": repository.full_name,
        "workspace": repository.workspace.slug,
        "source_type": repository.source_type,
        "source_id": repository.source_id,
        "location": repository.location,
        "default_branch": repository.default_branch,
        "config_status": repository.config_status,
        "config_path": repository.config_path,
        "config_error": repository.config_error,
        "config_detected_at": repository.config_detected_at,
        "document_count": repository.document_count,
        "chunk_count": repository.chunk_count,
        "last_ingested_commit": repository.last_ingested_commit,
        "last_ingested_at": repository.last_ingested_at,
        "last_synced_at": repository.last_synced_at,
        "active": repository.active,
        "archived": repository.archived,
        "suspended": repository.suspended,
    }


@app.command("connect")
@user_errors(*ERRORS)
def connect(
    target: str = typer.Argument(..., help="Path of a local git repository, or OWNER/NAME on GitHub."),
    workspace: str = typer.Option(
        None, "--workspace", "-w", help="Workspace name or slug (default workspace if omitted)."
    ),
    installation: str = typer.Option(None, "--installation", help="GitHub App installation id (GitHub only)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Connect a repository to a workspace and detect its lightfast.yml."""
    runtime = get_runtime()
    path = Path(target).expanduser()
    if path.exists():
        source = LocalGitSource(path)
        source.validate()
        repository = connect_repository(
            runtime,
            workspace_name=workspace,
            source=source,
            source_type=SourceType.LOCAL.value,
            location=str(path.resolve()),
            actor=runtime.settings.user,
        )
    elif GITHUB_NAME.match(target):
        from lightfast_pipeline.github.connect import connect_github_repository

        repository = connect_github_repository(runtime, target, workspace, installation, runtime.settings.user)
    else:
        raise RepositoryError(f"{target!r} is neither an existing directory nor OWNER/NAME")
    with runtime.session() as session:
        row = session.get(Repository, repository.id)
        detect_repository_config(runtime, row.id, source_for(row, runtime.settings), actor=runtime.settings.user)
    with runtime.session() as session:
        payload = repository_dict(session.get(Repository, repository.id))
    if json_output:
        print_json(payload)
        return
    console.print(f"connected [bold]{payload['name']}[/] (id {payload['id']}) to workspace {payload['workspace']}")
    console.print(
        f"config: {payload['config_status']}" + (f" — {payload['config_error']}" if payload["config_error"] else "")
    )


@app.command("list")
def list_command(
    workspace: str = typer.Option(None, "--workspace", "-w", help="Only this workspace."),
    all_repositories: bool = typer.Option(False, "--all", help="Include disconnected repositories."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List connected repositories."""
    with get_runtime().session() as session:
        query = select(Repository).order_by(Repository.id)
        if not all_repositories:
            query = query.where(Repository.active.is_(True))
        rows = [repository_dict(repo) for repo in session.scalars(query)]
    if workspace:
        rows = [row for row in rows if workspace in (row["workspace"],)]
    if json_output:
        print_json({"repositories": rows})
        return
    table = Table("id", "name", "workspace", "source", "config", "documents", "last commit")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["name"],
            row["workspace"],
            row["source_type"],
            row["config_status"],
            str(row["document_count"]),
            (row["last_ingested_commit"] or "")[:12],
        )
    console.print(table)


@app.command("show")
@user_errors(*ERRORS)
def show(repo: str, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one repository."""
    with get_runtime().session() as session:
        payload = repository_dict(find_repository(session, repo, include_inactive=True))
    if json_output:
        print_json(payload)
        return
    for key, value in payload.items():
        console.print(f"[bold]{key}[/]: {escape(str(value if value is not None else ''))}", highlight=False)


@app.command("detect-config")
@user_errors(*ERRORS)
def detect_config_command(repo: str, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-read lightfast.yml at the branch head and record the result."""
    runtime = get_runtime()
    with runtime.session() as session:
        repository = find_repository(session, repo)
        source = source_for(repository, runtime.settings)
        repository_id = repository.id
    detection = detect_repository_config(runtime, repository_id, source, actor=runtime.settings.user)
    payload = {"status": detection.status, "path": detection.path, "error": detection.error}
    if json_output:
        print_json(payload)
    else:
        console.print(
            f"{detection.status}"
            + (f": {detection.path}" if detection.path else "")
            + (f" — {detection.error}" if detection.error else "")
        )


def _truth_payload(truth: IndexTruth) -> dict:
    return {
        "ok": truth.ok,
        "commit": truth.commit,
        "ledger": truth.ledger,
        "store": truth.store,
        "expected": truth.expected,
        **{kind: ids[:100] for kind, ids in _drifts(truth)},
        "counts": truth.counts(),
    }


def _drifts(truth: IndexTruth) -> list[tuple[str, list[str]]]:
    return [
        ("missing", truth.missing),
        ("orphaned", truth.orphaned),
        ("stale", truth.stale),
        ("unrecorded", truth.unrecorded),
    ]


def _verify_under_lease(runtime: Runtime, repository_id: int, repair: bool) -> tuple[IndexTruth, Repaired | None]:
    """Check (and repair) the repository while holding its lease, so no run writes meanwhile."""
    holder = maintenance_holder("verify")
    try:
        acquire_lease(runtime, repository_id, holder, run_alive_on(runtime), wait_seconds=0)
    except LeaseTimeout as error:
        raise RepositoryError(f"cannot verify now: {error}") from error
    try:
        repair_from_journal(runtime, repository_id)
        with runtime.session() as session:
            source = source_for(session.get(Repository, repository_id), runtime.settings)
        truth = index_truth(runtime, repository_id, source, deep=True)
        if not repair or truth.ok:
            return truth, None
        repaired = repair_index(runtime, repository_id, truth, actor=runtime.settings.user)
        return index_truth(runtime, repository_id, source, deep=True), repaired
    finally:
        release_lease(runtime, repository_id, holder)


@app.command("verify")
@user_errors(*ERRORS)
def verify(
    repo: str,
    repair: bool = typer.Option(
        False, "--repair", help="Embed what is missing and delete what is orphaned or stale, then check again."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check that the store holds exactly the ledger's vectors, and the ledger the source's chunks."""
    runtime = get_runtime()
    with runtime.session() as session:
        repository = find_repository(session, repo)
        repository_id, name = repository.id, repository.full_name
    truth, repaired = _verify_under_lease(runtime, repository_id, repair)
    if repaired is not None and truth.ledger_drift:
        from lightfast_pipeline.cli.ingest import ingest_repository  # launches a Dagster run: import on use

        _summary, error = ingest_repository(runtime, str(repository_id), full=True, quiet=True)
        if error is not None:
            fail(f"{name}: the full re-ingestion that rewrites the ledger failed: {error}")
        truth, _ = _verify_under_lease(runtime, repository_id, repair=False)
    payload = _truth_payload(truth)
    if repaired is not None:
        payload["repaired"] = {"embedded": repaired.embedded, "deleted": repaired.deleted}
    if json_output:
        print_json(payload)
    elif repaired is not None:
        console.print(f"repaired {name}: {repaired.embedded} vectors embedded, {repaired.deleted} deleted")
    if truth.ok:
        if not json_output:
            console.print(f"ok: {truth.describe()} at {(truth.commit or '')[:12]}", highlight=False)
        return
    fail(f"{name}: index drift at {(truth.commit or '')[:12]}: {truth.describe()}")


@app.command("disconnect")
@user_errors(*ERRORS)
def disconnect(repo: str, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Disconnect a repository and remove its documents and vectors from the index."""
    runtime = get_runtime()
    with runtime.session() as session:
        repository = find_repository(session, repo)
        repository_id, name = repository.id, repository.full_name
    result = disconnect_repository(runtime, repository_id, actor=runtime.settings.user)
    payload = {
        "id": repository_id,
        "name": name,
        "documents_removed": result.documents,
        "vectors_removed": result.vectors,
    }
    if json_output:
        print_json(payload)
    else:
        console.print(f"disconnected {name}: removed {result.documents} documents and {result.vectors} vectors")

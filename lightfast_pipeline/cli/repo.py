"""`lightfast repo …`: connect, list, show, detect-config, verify, disconnect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors

if TYPE_CHECKING:
    from lightfast_pipeline.index.truth import IndexTruth

app = typer.Typer(help="Connect and manage repositories.", no_args_is_help=True)
GITHUB_NAME = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")


def _errors() -> tuple[type[Exception], ...]:
    """The user-facing errors of repository commands (imported with the services that raise them)."""
    from lightfast_pipeline.config.detect import ConfigError
    from lightfast_pipeline.sources.base import SourceError
    from lightfast_pipeline.stores.store import StoreError
    from lightfast_pipeline.workspaces.repositories import RepositoryError
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    return RepositoryError, WorkspaceError, SourceError, ConfigError, StoreError


@app.command("connect")
def connect(
    target: str = typer.Argument(..., help="Path of a local git repository, or OWNER/NAME on GitHub."),
    workspace: str = typer.Option(
        None, "--workspace", "-w", help="Workspace name or slug (default workspace if omitted)."
    ),
    installation: str = typer.Option(None, "--installation", help="GitHub App installation id (GitHub only)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Connect a repository to a workspace and detect its lightfast.yml."""
    from lightfast_pipeline.workspaces import repositories

    runtime = get_runtime()
    user = runtime.settings.user
    path = Path(target).expanduser()
    with user_errors(*_errors()):
        if path.exists():
            repository = repositories.connect_local_repository(runtime, path, workspace, user)
        elif GITHUB_NAME.match(target):
            from lightfast_pipeline.github.connect import connect_github_repository

            repository = connect_github_repository(runtime, target, workspace, installation, user)
        else:
            raise repositories.RepositoryError(f"{target!r} is neither an existing directory nor OWNER/NAME")
        repositories.redetect_config(runtime, repository.id, actor=user)
        payload = repositories.describe_repository(runtime, repository.id)
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
    from lightfast_pipeline.workspaces.listing import list_repositories

    rows = list_repositories(get_runtime(), workspace=workspace, include_inactive=all_repositories)
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
def show(repo: str, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one repository."""
    from lightfast_pipeline.workspaces.repositories import describe_repository

    with user_errors(*_errors()):
        payload = describe_repository(get_runtime(), repo, include_inactive=True)
    if json_output:
        print_json(payload)
        return
    for key, value in payload.items():
        console.print(f"[bold]{key}[/]: {escape(str(value if value is not None else ''))}", highlight=False)


@app.command("detect-config")
def detect_config_command(repo: str, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-read lightfast.yml at the branch head and record the result."""
    from lightfast_pipeline.workspaces.repositories import describe_repository, redetect_config

    runtime = get_runtime()
    with user_errors(*_errors()):
        repository_id = describe_repository(runtime, repo)["id"]
        detection = redetect_config(runtime, repository_id, actor=runtime.settings.user)
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
        **{kind: ids[:100] for kind, ids in truth.drifts().items()},
        "counts": truth.counts(),
    }


@app.command("verify")
def verify(
    repo: str,
    repair: bool = typer.Option(
        False, "--repair", help="Embed what is missing and delete what is orphaned or stale, then check again."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check that the store holds exactly the ledger's vectors, and the ledger the source's chunks."""
    from lightfast_pipeline.ingestion.repair import verify_under_lease
    from lightfast_pipeline.workspaces.repositories import describe_repository

    runtime = get_runtime()
    with user_errors(*_errors()):
        repository = describe_repository(runtime, repo)
        repository_id, name = repository["id"], repository["name"]
        truth, repaired = verify_under_lease(runtime, repository_id, repair=repair, actor=runtime.settings.user)
        if repaired is not None and truth.ledger_drift:
            from lightfast_pipeline.cli.ingest import ingest_repository  # launches a Dagster run: import on use

            _summary, error = ingest_repository(runtime, str(repository_id), full=True, quiet=True)
            if error is not None:
                fail(f"{name}: the full re-ingestion that rewrites the ledger failed: {error}")
            truth, _ = verify_under_lease(runtime, repository_id, repair=False, actor=runtime.settings.user)
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
def disconnect(repo: str, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Disconnect a repository and remove its documents and vectors from the index."""
    from lightfast_pipeline.workspaces.repositories import describe_repository, disconnect_repository

    runtime = get_runtime()
    with user_errors(*_errors()):
        repository = describe_repository(runtime, repo)
        repository_id, name = repository["id"], repository["name"]
        result = disconnect_repository(
            runtime,
            repository_id,
            actor=runtime.settings.user,
            on_wait=lambda run_id: typer.echo(f"waiting for run {run_id} to finish {name}", err=True),
        )
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

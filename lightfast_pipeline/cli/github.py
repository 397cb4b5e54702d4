"""`lightfast github installations list|validate|repos|detect-config`: the GitHub App's installations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json

app = typer.Typer(help="The GitHub App.", no_args_is_help=True)
installations_app = typer.Typer(help="The App's installations.", no_args_is_help=True)
app.add_typer(installations_app, name="installations")
T = TypeVar("T")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
WORKSPACE_OPTION = typer.Option(None, "--workspace", "-w", help="Workspace whose connections count (default one).")


def _workspace_id(workspace: str | None) -> int:
    from lightfast_pipeline.workspaces.workspace import find_workspace

    with get_runtime().session() as session:
        return find_workspace(session, workspace).id


def _call(function: Callable[[], T]) -> T:
    """Run a service call; GitHub and lookup problems become one-line errors."""
    from lightfast_pipeline.github.installations import InstallationNotFound
    from lightfast_pipeline.sources.base import SourceError
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    try:
        return function()
    except (InstallationNotFound, SourceError, WorkspaceError) as error:
        fail(str(error))


@installations_app.command("list")
def list_command(workspace: str = WORKSPACE_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Installations: account, type, repository selection, suspended, repositories connected."""
    from lightfast_pipeline.github.installations import list_installations

    rows = _call(lambda: list_installations(get_runtime(), _workspace_id(workspace)))
    if json_output:
        print_json({"installations": rows})
        return
    for row in rows:
        state = "suspended" if row["suspended"] else "active"
        console.print(
            f"{row['id']}  {row['account']} ({row['account_type']})  {row['repository_selection']}  {state}  "
            f"{row['repositories_connected']} connected",
            highlight=False,
        )


@installations_app.command("validate")
def validate(
    installation_id: str = typer.Argument(..., help="Installation id."),
    workspace: str = WORKSPACE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Refresh from GitHub: repositories added and removed since the last validation."""
    from lightfast_pipeline.github.installations import validate_installation

    runtime = get_runtime()
    result = _call(
        lambda: validate_installation(runtime, installation_id, _workspace_id(workspace), runtime.settings.user)
    )
    if json_output:
        print_json(result)
        return
    console.print(
        f"installation {result['id']}: {result['repositories']} repositories, "
        f"{result['added']} added, {result['removed']} removed",
        highlight=False,
    )


@installations_app.command("repos")
def repos(
    installation_id: str = typer.Argument(..., help="Installation id."),
    workspace: str = WORKSPACE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """The repositories the installation can see, and whether each is connected."""
    from lightfast_pipeline.github.installations import installation_repositories

    rows = _call(lambda: installation_repositories(get_runtime(), installation_id, _workspace_id(workspace)))
    if json_output:
        print_json({"repositories": rows})
        return
    for row in rows:
        console.print(f"{'connected' if row['connected'] else '-':<10} {row['full_name']}", highlight=False)


@installations_app.command("detect-config")
def detect_config(
    installation_id: str = typer.Argument(..., help="Installation id."),
    repository: str = typer.Argument(..., help="OWNER/NAME (need not be connected)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Look for lightfast.yml in a repository before connecting it (nothing is recorded)."""
    from lightfast_pipeline.github.installations import detect_before_connect

    result = _call(lambda: detect_before_connect(installation_id, repository))
    if json_output:
        print_json(result)
        return
    detail = result["path"] or ""
    console.print(f"{result['status']} {detail} {result['error'] or ''}".strip(), highlight=False)

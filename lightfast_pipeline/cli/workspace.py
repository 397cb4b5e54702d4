"""`lightfast workspace …`"""

from __future__ import annotations

import typer
from rich.table import Table

from lightfast_pipeline.cli.common import console, get_runtime, print_json, user_errors

app = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)


@app.command("create")
def create(
    name: str,
    org: str = typer.Option("default", "--org", help="Organisation (created with its default workspace if new)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a workspace in an organisation."""
    from lightfast_pipeline.workspaces.workspace import (
        WorkspaceError,
        create_workspace,
        get_or_create_organization,
        workspace_fields,
    )

    runtime = get_runtime()
    with user_errors(WorkspaceError), runtime.session() as session:
        organization = get_or_create_organization(session, org, actor=runtime.settings.user)
        workspace = create_workspace(session, name, organization=organization, actor=runtime.settings.user)
        payload = workspace_fields(workspace)
    if json_output:
        print_json(payload)
    else:
        console.print(
            f"created workspace [bold]{payload['name']}[/] (slug {payload['slug']}, org {payload['organization']})"
        )


@app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List workspaces."""
    from lightfast_pipeline.workspaces.workspace import list_workspaces, workspace_fields

    with get_runtime().session() as session:
        rows = [workspace_fields(ws) for ws in list_workspaces(session)]
    if json_output:
        print_json({"workspaces": rows})
        return
    table = Table("id", "organisation", "name", "slug", "default")
    for row in rows:
        table.add_row(str(row["id"]), row["organization"], row["name"], row["slug"], "yes" if row["default"] else "")
    console.print(table)

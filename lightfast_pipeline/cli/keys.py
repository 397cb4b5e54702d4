"""`lightfast keys create|list|revoke`: API keys of a workspace (the key is printed once, stored hashed)."""

from __future__ import annotations

import typer

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json

app = typer.Typer(help="API keys for `lightfast serve`.", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")


@app.command("create")
def create(
    workspace: str = typer.Option(None, "--workspace", "-w", help="Workspace slug (default workspace if omitted)."),
    role: str = typer.Option("read", "--role", help="read (GET and search) or admin (also mutations)."),
    name: str = typer.Option(None, "--name", help="Shown as the actor of this key's actions."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from lightfast_pipeline.keys.service import ApiKeyError, create_key
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    runtime = get_runtime()
    try:
        with runtime.session() as session:
            public, key = create_key(session, workspace=workspace, role=role, name=name, actor=runtime.settings.user)
    except (ApiKeyError, WorkspaceError) as error:
        fail(str(error))
    payload = {"id": public["id"], "name": public["name"], "workspace": public["workspace"], "role": role, "key": key}
    if json_output:
        print_json(payload)
        return
    console.print(f"created {role} key {payload['name']} (id {payload['id']}) for workspace {payload['workspace']}")
    console.print("store it now, it is not shown again:", highlight=False)
    typer.echo(key)


@app.command("list")
def list_command(
    workspace: str = typer.Option(None, "--workspace", "-w", help="Only this workspace."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Keys with their workspace, role and state (never the key)."""
    from rich.table import Table

    from lightfast_pipeline.keys.service import list_keys
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    try:
        with get_runtime().session() as session:
            rows = list_keys(session, workspace)
    except WorkspaceError as error:
        fail(str(error))
    if json_output:
        print_json({"keys": rows})
        return
    table = Table("id", "name", "workspace", "role", "prefix", "created", "revoked")
    for row in rows:
        revoked = row["revoked_at"].strftime("%Y-%m-%d %H:%M") if row["revoked_at"] else ""
        created = row["created_at"].strftime("%Y-%m-%d %H:%M")
        table.add_row(str(row["id"]), row["name"], row["workspace"], row["role"], row["prefix"], created, revoked)
    console.print(table)


@app.command("revoke")
def revoke(
    key_id: int = typer.Argument(..., help="Key id (see `lightfast keys list`)."), json_output: bool = JSON_OPTION
) -> None:
    """Revoke a key: its next request answers 401."""
    from lightfast_pipeline.keys.service import ApiKeyError, revoke_key

    runtime = get_runtime()
    try:
        with runtime.session() as session:
            row = revoke_key(session, key_id, actor=runtime.settings.user)
    except ApiKeyError as error:
        fail(str(error))
    if json_output:
        print_json(row)
        return
    console.print(f"revoked key {row['name']} (id {row['id']})")

"""`lightfast webhooks …`: run the receiver, list stored deliveries."""

from __future__ import annotations

import gc

import typer
from rich.table import Table

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors

app = typer.Typer(help="Receive GitHub webhooks and inspect deliveries.", no_args_is_help=True)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8787, "--port", help="Port to listen on."),
    request_timeout: float = typer.Option(
        10.0, "--request-timeout", min=0.1, help="Seconds a request's head, and then its body, may take to arrive."
    ),
) -> None:
    """Serve POST /webhooks/github and GET /healthz (uvicorn)."""
    from lightfast_pipeline.webhooks import ReceiverConfigError, create_app
    from lightfast_pipeline.webhooks.server import serve as serve_app

    try:
        receiver = create_app(get_runtime(), body_timeout=request_timeout)
    except ReceiverConfigError as error:
        fail(str(error))
    # What the imports created lives as long as the process: keep it out of the collector's full passes, which
    # otherwise stop a request for ~90 ms now and then (the acknowledgement p99 goal is 50 ms).
    gc.freeze()
    serve_app(receiver, host, port, head_timeout=request_timeout, log_level="info")


@app.command("deliveries")
def deliveries(
    status: str = typer.Option(None, "--status", help="Only deliveries with this status."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Newest N deliveries (at most 10,000)."),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Only deliveries about its repositories."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stored webhook deliveries, newest first, with what each one caused."""
    from lightfast_pipeline.github.delivery_log import DeliveryError
    from lightfast_pipeline.webhooks.store import list_deliveries
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    with user_errors(DeliveryError, WorkspaceError):
        rows = list_deliveries(get_runtime(), status=status, limit=limit, workspace=workspace)
    if json_output:
        print_json({"deliveries": rows})
        return
    table = Table("id", "event", "action", "repository", "received", "status", "reason", "run")
    for row in rows:
        table.add_row(
            row["id"],
            row["event"],
            row["action"] or "",
            row["repository"] or "",
            row["received_at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["status"],
            row["reason"] or "",
            (row["run_id"] or "")[:8],
        )
    console.print(table)

"""`lightfast store …`: list stores, rebuild one with the configured embedder, optimize the embedded store."""

from __future__ import annotations

import typer
from rich.table import Table

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors

app = typer.Typer(help="Inspect and rebuild vector stores.", no_args_is_help=True)
COLUMNS = ("slug", "workspace", "model", "dimension", "backend", "namespace", "documents", "chunks", "vectors")


def _errors() -> tuple[type[Exception], ...]:
    """The user-facing errors of store commands (imported with the services that raise them)."""
    from lightfast_pipeline.stores.store import StoreError
    from lightfast_pipeline.vectorstores.base import VectorStoreError
    from lightfast_pipeline.workspaces.repositories import RepositoryError
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    return StoreError, WorkspaceError, VectorStoreError, RepositoryError


@app.command("list")
def list_command(
    workspace: str = typer.Option(None, "--workspace", "-w", help="Only this workspace."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stores: embedder settings, documents, ledger chunks and vectors."""
    from lightfast_pipeline.stores.rebuild import list_stores

    with user_errors(*_errors()):
        rows = list_stores(get_runtime(), workspace)
    if json_output:
        print_json({"stores": rows})
        return
    table = Table(*COLUMNS)
    for row in rows:
        table.add_row(*(str(row[column]) for column in COLUMNS))
    console.print(table)


@app.command("rebuild")
def rebuild(
    slug: str = typer.Argument(..., help="Store slug (the `store:` of lightfast.yml)."),
    workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace name or slug."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Re-embed a store with the configured embedder (after a model change): empty it, then ingest in full."""
    from lightfast_pipeline.cli.ingest import ingest_repository
    from lightfast_pipeline.runs.launch import LaunchError
    from lightfast_pipeline.stores.rebuild import rebuild_store

    runtime = get_runtime()
    runs = []
    with user_errors(*_errors(), LaunchError):
        result = rebuild_store(runtime, workspace, slug, actor=runtime.settings.user)
        for repository_id, name in result.to_ingest.items():
            summary, error = ingest_repository(runtime, str(repository_id), full=True, quiet=json_output)
            runs.append({"repository": name, "repository_id": repository_id, **summary, "error": error})
    payload = {
        "store": slug,
        "before": result.before,
        "after": result.after,
        "removed": {"documents": result.documents_removed, "vectors": result.vectors_removed},
        "runs": runs,
        "not_ingested": result.not_ingested,
    }
    if json_output:
        print_json(payload)
    else:
        console.print(
            f"store {slug}: {result.before['model']} ({result.before['dimension']} dims) → "
            f"{result.after['model']} ({result.after['dimension']} dims); removed {result.documents_removed} "
            f"documents and {result.vectors_removed} vectors"
        )
        for run in runs:
            console.print(
                f"{run['repository']}: run {run['run_id']} [bold]{run['status']}[/], "
                f"{run['documents']['added']} documents, {run['chunks']['embedded']} chunks embedded"
                + (f" — {run['error']}" if run["error"] else "")
            )
        for name, reason in result.not_ingested.items():
            console.print(f"{name}: not ingested ({reason})")
    failed = [run["run_id"] for run in runs if run["status"] != "completed"]
    if failed:
        fail(f"{len(failed)} ingestion run(s) did not complete: {', '.join(failed)}")


@app.command("optimize")
def optimize(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Embedded store maintenance: bring each table's vector index up to date, compact, drop old versions.

    Writers already have the index built and refreshed (by a child process) when a table crosses a threshold;
    run this on a schedule for compaction and version cleanup (it is safe beside running writers and readers).
    """
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore  # pyarrow: only when used

    with user_errors(*_errors()):
        vectors = get_runtime().vector_store
        if not isinstance(vectors, LanceDBVectorStore):
            fail(f"nothing to optimize on the {vectors.backend} backend: it indexes on its own")
        actions = {name: str(action) for name, action in vectors.optimize().items()}
    if json_output:
        print_json({"tables": actions})
        return
    for name, action in actions.items():
        console.print(f"{name}: compacted; vector index: {action}")

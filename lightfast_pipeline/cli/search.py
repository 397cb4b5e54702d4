"""`lightfast search QUERY`: sent whole to the warm embedding service when it serves this configuration (this
process then imports neither LanceDB nor the model), else searched in this process; same search, same output."""

from __future__ import annotations

from typing import Any

import typer

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors


def search_command(
    query: str = typer.Argument(..., help="What to look for."),
    workspace: str = typer.Option(None, "--workspace", "-w", help="Workspace (default workspace if omitted)."),
    top_k: int = typer.Option(5, "--top-k", "-k", help="Number of results (1-100)."),
    mode: str = typer.Option("hybrid", "--mode", "-m", help="hybrid (default), vector or keyword."),
    fusion: str = typer.Option("weighted", "--fusion", help="How hybrid fuses: weighted (default) or rrf."),
    repository: str = typer.Option(None, "--repository", "-r", help="Only this repository (id, uid or name)."),
    path_prefix: str = typer.Option(None, "--path-prefix", help="Only documents whose path starts with this."),
    all_chunks: bool = typer.Option(False, "--all-chunks", help="Several chunks of one document may be returned."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search one workspace's documents."""
    from lightfast_pipeline.search.served import SearchRefused, served_search
    from lightfast_pipeline.settings import load_settings

    arguments = {
        "query": query,
        "workspace": workspace,
        "top_k": top_k,
        "per_document": not all_chunks,
        "mode": mode,
        "fusion": fusion,
        "repository": repository,
        "path_prefix": path_prefix,
    }
    try:
        payload = served_search(load_settings(), arguments)
    except SearchRefused as error:
        fail(str(error))
    if payload is None:
        payload = _search_here(arguments)
    if json_output:
        print_json(payload)
    else:
        _print_table(payload)


def _search_here(arguments: dict[str, Any]) -> dict[str, Any]:
    """The same search in this process (no service, or one serving another catalog, store or model)."""
    from lightfast_pipeline.search.hits import search_payload
    from lightfast_pipeline.search.query import SearchError, search
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    query, workspace = arguments.pop("query"), arguments.pop("workspace")
    with user_errors(SearchError, WorkspaceError):
        return search_payload(search(get_runtime(), query, workspace, **arguments))


def _print_table(payload: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("score", "document", "section", "snippet", show_lines=True)
    for hit in payload["results"]:
        table.add_row(
            f"{hit['score']:.3f}",
            f"[bold]{escape(hit['title'])}[/]\n{escape(hit['repository'])}:{escape(hit['path'])}",
            escape(hit["heading"]),
            escape(hit["snippet"]),
        )
    console.print(table)
    latency = payload["latency_ms"]
    console.print(
        f"{len(payload['results'])} results ({payload['mode']}) in {latency['total']:.0f} ms (embed "
        f"{latency['embed']:.0f}, vector {latency['vector']:.0f}, keyword {latency['keyword']:.0f}, fuse "
        f"{latency['fuse']:.0f} ms)"
    )

"""`lightfast search QUERY`"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from lightfast_pipeline.cli.common import console, get_runtime, print_json, user_errors


def search_command(
    query: str = typer.Argument(..., help="What to look for."),
    workspace: str = typer.Option(None, "--workspace", "-w", help="Workspace (default workspace if omitted)."),
    top_k: int = typer.Option(5, "--top-k", "-k", help="Number of results (1-100)."),
    all_chunks: bool = typer.Option(False, "--all-chunks", help="Several chunks of one document may be returned."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search one workspace's documents."""
    from lightfast_pipeline.search.query import SearchError, search
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    with user_errors(SearchError, WorkspaceError):
        result = search(get_runtime(), query, workspace, top_k=top_k, per_document=not all_chunks)
    if json_output:
        print_json(
            {
                "results": [
                    {
                        "path": hit.path,
                        "title": hit.title,
                        "heading": hit.heading,
                        "snippet": hit.snippet,
                        "score": hit.score,
                        "repository": hit.repository,
                    }
                    for hit in result.results
                ],
                "latency_ms": result.latency_ms,
            }
        )
        return
    table = Table("score", "document", "section", "snippet", show_lines=True)
    for hit in result.results:
        table.add_row(
            f"{hit.score:.3f}",
            f"[bold]{escape(hit.title)}[/]\n{escape(hit.repository)}:{escape(hit.path)}",
            escape(hit.heading),
            escape(hit.snippet),
        )
    console.print(table)
    latency = result.latency_ms
    console.print(
        f"{len(result.results)} results in {latency['total']:.0f} ms "
        f"(embed {latency['embed']:.0f} ms, retrieve {latency['retrieve']:.0f} ms)"
    )

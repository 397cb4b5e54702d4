"""`lightfast search QUERY`"""

from __future__ import annotations

import typer

from lightfast_pipeline.cli.common import console, get_runtime, print_json, user_errors


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
    from rich.markup import escape
    from rich.table import Table

    from lightfast_pipeline.search.query import SearchError, search
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    with user_errors(SearchError, WorkspaceError):
        result = search(
            get_runtime(),
            query,
            workspace,
            top_k=top_k,
            per_document=not all_chunks,
            mode=mode,
            fusion=fusion,
            repository=repository,
            path_prefix=path_prefix,
        )
    if json_output:
        from lightfast_pipeline.search.hits import hit_dict  # the API's shape: one implementation

        print_json(
            {
                "results": [hit_dict(hit) for hit in result.results],
                "mode": result.mode,
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
        f"{len(result.results)} results ({result.mode}) in {latency['total']:.0f} ms (embed {latency['embed']:.0f}, "
        f"vector {latency['vector']:.0f}, keyword {latency['keyword']:.0f}, fuse {latency['fuse']:.0f} ms)"
    )

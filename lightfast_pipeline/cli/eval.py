"""`lightfast eval QUERIES.tsv`: retrieval quality of a workspace on graded queries."""

from __future__ import annotations

from pathlib import Path

import typer

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json


def eval_command(
    queries: Path = typer.Argument(..., help="TSV of query<TAB>expected path[<TAB>path…] ('#' comments)."),
    workspace: str = typer.Option(None, "--workspace", "-w", help="Workspace (default workspace if omitted)."),
    top_k: int = typer.Option(10, "--top-k", "-k", help="Results per query (1-100; recall@10 needs 10)."),
    mode: str = typer.Option("hybrid", "--mode", "-m", help="hybrid (default), vector or keyword."),
    fusion: str = typer.Option("weighted", "--fusion", help="How hybrid fuses: weighted (default) or rrf."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recall@1/5/10, MRR@10, nDCG@10, each query's rank and latency p50/p95 of search on graded queries."""
    from rich.markup import escape
    from rich.table import Table

    from lightfast_pipeline.search.evaluate import QueryFileError, evaluate, read_queries, summarize
    from lightfast_pipeline.search.query import SearchError, search
    from lightfast_pipeline.workspaces.workspace import WorkspaceError

    runtime = get_runtime()

    def run(query: str) -> tuple[list[str], float]:
        result = search(runtime, query, workspace, top_k=top_k, mode=mode, fusion=fusion, record=False)
        return [hit.path for hit in result.results], result.latency_ms["total"]

    try:
        summary = summarize(evaluate(read_queries(queries), run))
    except (QueryFileError, SearchError, WorkspaceError) as error:
        fail(str(error))
    if json_output:
        print_json(summary)
        return
    table = Table("rank", "query", "expected")
    for item in summary["per_query"]:
        rank = item["rank"]
        table.add_row("-" if rank is None else str(rank), escape(item["query"]), escape(", ".join(item["expected"])))
    console.print(table)
    recall = summary["recall"]
    console.print(
        f"{summary['queries']} queries ({mode}): recall@1 {recall['1']:.3f}, recall@5 {recall['5']:.3f}, "
        f"recall@10 {recall['10']:.3f}, MRR@10 {summary['mrr']:.3f}, nDCG@10 {summary['ndcg']:.3f}; "
        f"latency p50 {summary['latency_ms']['p50']:.0f} ms, p95 {summary['latency_ms']['p95']:.0f} ms"
    )

"""The `lightfast` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from lightfast_pipeline.cli import (
    activity,
    dev,
    embedder,
    eval,
    ingest,
    jobs,
    repo,
    search,
    stats,
    store,
    webhooks,
    workspace,
)

app = typer.Typer(
    name="lightfast",
    help="Keep an organisation's documentation searchable and its ingestion observable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.add_typer(workspace.app, name="workspace")
app.add_typer(repo.app, name="repo")
app.add_typer(store.app, name="store")
app.add_typer(jobs.app, name="jobs")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(embedder.app, name="embedder")
app.command("ingest")(ingest.ingest)
app.command("search")(search.search_command)
app.command("eval")(eval.eval_command)
app.command("activity")(activity.activity)
app.command("dev")(dev.dev)
app.command("stats")(stats.stats)


def main() -> None:
    """Entry point of the `lightfast` console script."""
    app()

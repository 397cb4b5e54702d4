"""The `lightfast` command: one Typer app, one module per command group.

How a command is added (the CLI must answer at once: `lightfast --help` imports this module and every command
module, nothing else):

1. Write ``cli/<group>.py`` importing only the standard library, ``typer``, ``rich`` and ``cli.common`` at
   module level. Everything the command uses (services, the Runtime, Dagster, SQLAlchemy, the exception types
   it reports) is imported inside the command's function; report expected errors as one line with
   ``with user_errors(SomeError): ...``.
2. The command calls services and formats what they return: no catalog query in ``cli/``.
3. Register it below: ``app.add_typer(<group>.app, name="<group>")`` for a group of subcommands,
   ``app.command("<name>")(<module>.<function>)`` for a single command.

``tests/test_cli_imports.py`` fails when importing the CLI imports a service or when ``cli/`` queries the
catalog; ``benchmarks/cli.py`` measures the commands as processes.
"""

from __future__ import annotations

import typer

from lightfast_pipeline.cli import (
    activity,
    dev,
    embedder,
    eval,
    github,
    ingest,
    jobs,
    keys,
    repo,
    search,
    serve,
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
app.add_typer(keys.app, name="keys")
app.add_typer(github.app, name="github")
app.command("ingest")(ingest.ingest)
app.command("search")(search.search_command)
app.command("eval")(eval.eval_command)
app.command("activity")(activity.activity)
app.command("dev")(dev.dev)
app.command("stats")(stats.stats)
app.command("serve")(serve.serve)


def main() -> None:
    """Entry point of the `lightfast` console script."""
    app()

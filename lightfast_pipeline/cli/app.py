"""The `lightfast` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="lightfast",
    help="Keep an organisation's documentation searchable and its ingestion observable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Entry point of the `lightfast` console script."""
    app()

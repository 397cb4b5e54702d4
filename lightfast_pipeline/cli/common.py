"""Shared CLI helpers: one-line errors, JSON output, the process Runtime (built, and imported, on first use)."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from lightfast_pipeline.runtime import Runtime  # SQLAlchemy and Alembic: only commands that use the catalog

console = Console()
error_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(payload: Any) -> None:
    """Machine-readable output on stdout (nothing else is printed with --json)."""
    sys.stdout.write(json.dumps(payload, default=_default, indent=2) + "\n")


@contextlib.contextmanager
def user_errors(*types: type[BaseException]) -> Iterator[None]:
    """Turn the given expected exceptions into one-line errors (a ``with`` block or a decorator).

    Commands import their services, and so the exception types, inside their body: ``with user_errors(...)``.
    """
    try:
        yield
    except types as error:
        fail(str(error))


@functools.cache
def get_runtime() -> Runtime:
    """The Runtime of this CLI process (settings from the environment)."""
    from lightfast_pipeline.runtime import Runtime

    return Runtime()

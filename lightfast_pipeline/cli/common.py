"""Shared CLI helpers: one-line errors, JSON output, the process Runtime."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from lightfast_pipeline.runtime import Runtime

console = Console()
error_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


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


def user_errors(*types: type[BaseException]) -> Callable[[F], F]:
    """Turn the given expected exceptions into one-line errors."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except types as error:
                fail(str(error))

        return wrapper  # type: ignore[return-value]

    return decorate


@functools.cache
def get_runtime() -> Runtime:
    """The Runtime of this CLI process (settings from the environment)."""
    return Runtime()

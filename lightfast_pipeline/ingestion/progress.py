"""Embedding progress of runs executing in this process (the CLI draws it as a Rich progress bar)."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int, int], None]

_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Receive ``(chunks embedded so far, chunks to embed)`` from runs in this process."""
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop receiving progress."""
    if listener in _listeners:
        _listeners.remove(listener)


def report(done: int, total: int) -> None:
    """Tell every listener how far embedding got."""
    for listener in list(_listeners):
        listener(done, total)

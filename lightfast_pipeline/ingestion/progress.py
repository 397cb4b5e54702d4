"""Batch progress of runs executing in this process (the CLI draws it as a Rich progress bar)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchDone:
    """Progress after a batch committed: batches and documents so far, of the run's totals."""

    batch: int
    batches: int
    documents: int
    documents_total: int


Listener = Callable[[BatchDone], None]

_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Receive a :class:`BatchDone` each time a run in this process commits a batch."""
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop receiving progress."""
    if listener in _listeners:
        _listeners.remove(listener)


def report(done: BatchDone) -> None:
    """Tell every listener how far the run got."""
    for listener in list(_listeners):
        listener(done)

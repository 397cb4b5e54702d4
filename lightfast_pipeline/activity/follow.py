"""Live tail of the timeline: poll the newest entries and emit the ones not seen before or changed since."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from dagster import DagsterInstance
from sqlalchemy.orm import Session

from lightfast_pipeline.activity.timeline import Entry, TimelineFilter, timeline_page

WINDOW = 200  # newest entries compared at each poll


def follow(
    open_session: Callable[[], AbstractContextManager[Session]],
    instance: DagsterInstance,
    filters: TimelineFilter,
    *,
    backlog: int = 20,
    interval: float = 2.0,
    polls: int | None = None,
    heartbeats: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[Entry | None]:
    """Yield the ``backlog`` newest entries (oldest first), then every new or changed entry as polls find it.

    A changed entry (a delivery or run whose status moved on) is yielded again. Runs until the caller stops
    iterating, after ``polls`` polls, or once ``stop`` is set (checked between polls, so a signal handler that
    sets it never interrupts a query half-way). With ``heartbeats``, a poll that found nothing yields None, so a
    caller (the API's event stream) regains control and can notice that its client has gone.
    """
    stop = stop or threading.Event()
    seen: OrderedDict[tuple[str, int | str], Entry] = OrderedDict()
    first = True
    done = 0
    while polls is None or done < polls:
        if not first and stop.wait(interval):
            return
        with open_session() as session:
            newest = timeline_page(session, instance, filters, limit=max(WINDOW, backlog)).entries
        fresh = [entry for entry in reversed(newest) if seen.get((entry.kind, entry.id)) != entry]
        for entry in fresh:
            seen[(entry.kind, entry.id)] = entry
            seen.move_to_end((entry.kind, entry.id))
        while len(seen) > 5 * WINDOW:
            seen.popitem(last=False)
        batch = fresh[max(0, len(fresh) - backlog) :] if first else fresh
        yield from batch
        if heartbeats and not batch:
            yield None
        first = False
        done += 1

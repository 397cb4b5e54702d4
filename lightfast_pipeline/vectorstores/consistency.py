"""Reads that wait for an eventually consistent store (Pinecone serverless shows writes a moment late).

A store declares its window in ``consistency_seconds`` (0 for LanceDB, which reads its own latest version).
Where correctness depends on a read — index truth right after a write, a rebuild checking that its namespace
is empty — the read is repeated with backoff until it shows what the catalog says it should, and a
disagreement is believed only once it has outlasted the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_WAIT_SECONDS = 0.1
MAX_WAIT_SECONDS = 2.0


def read_settled(
    read: Callable[[], T],
    agrees: Callable[[T], bool],
    within: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``read()`` until ``agrees`` with the value or ``within`` seconds have passed; returns the last value.

    Waits double from 0.1 s to 2 s between reads; with ``within`` 0 the first read is returned as it is.
    """
    deadline = clock() + within
    wait = FIRST_WAIT_SECONDS
    value = read()
    while not agrees(value) and clock() < deadline:
        sleep(min(wait, max(0.0, deadline - clock())))
        wait = min(wait * 2, MAX_WAIT_SECONDS)
        value = read()
    return value

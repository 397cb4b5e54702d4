"""Keep a LanceDB writer's native heap from growing with its table (glibc only; a no-op elsewhere).

LanceDB allocates through glibc ``malloc`` from many threads. Each ``merge_insert`` takes tens of MB of
working memory that grows with the fragments it reads; freed, that memory stayed in per-thread arenas, so a
writer's RSS kept rising with the table even with the vector index built elsewhere (``lancedb_child.py``).
Measured (one process upserting batches of 300 clustered 384-dim vectors, index maintenance in children, peak
RSS): 446 MB at 59,400 rows and still rising without this; 368 MB with two arenas, 361 MB with a trim after
every upsert; with both, 348 MB over 100,000 rows (``benchmarks.scale --sections writer``).
"""

from __future__ import annotations

import ctypes
import sys

M_ARENA_MAX = -8  # mallopt parameter (malloc.h)
ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - musl has no malloc_trim: treat it as absent
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def cap_arenas() -> None:
    """Let at most :data:`ARENAS` malloc arenas exist in this process from now on (threads share them)."""
    if _LIBC is not None:
        _LIBC.mallopt(M_ARENA_MAX, ARENAS)


def trim() -> None:
    """Return the heap's free pages to the OS."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

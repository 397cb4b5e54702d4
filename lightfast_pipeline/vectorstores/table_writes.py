"""Writes of one LanceDB table across processes: an exclusive lock per table, and retries of commit conflicts.

Shared by the writer (``lancedb_store.py``) and the index maintenance child (``lancedb_maintenance.py``): every
write of a local table holds ``<uri>/_locks/<table>.lock`` (``flock``; the OS drops it when a process dies).
"""

from __future__ import annotations

import fcntl
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

LOCK_DIR = "_locks"
WRITE_ATTEMPTS = 8
_CONFLICT = re.compile(r"conflict|retryable|concurrent|commit", re.IGNORECASE)


def lock_dir_of(uri: str) -> Path | None:
    """The lock directory of a database at ``uri``; None for remote URIs (no lock: one writer per table)."""
    local = "://" not in uri or uri.startswith("file://")
    return Path(uri.removeprefix("file://")) / LOCK_DIR if local else None


@contextmanager
def table_lock(lock_dir: Path | None, name: str) -> Iterator[None]:
    """Exclusive advisory lock of table ``name`` across processes (a no-op without a lock directory)."""
    if lock_dir is None:
        yield
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def retry_conflicts(operation: Callable[[], T]) -> T:
    """Run ``operation``, retrying commit conflicts with jittered exponential backoff."""
    attempt = 0
    while True:
        try:
            return operation()
        except (OSError, RuntimeError) as exc:
            attempt += 1
            if attempt >= WRITE_ATTEMPTS or not _CONFLICT.search(str(exc)):
                raise
            delay = 0.05 * 2**attempt * (1 + random.random())
            log.info("LanceDB commit conflict (attempt %d), retrying in %.2fs: %s", attempt, delay, exc)
            time.sleep(delay)

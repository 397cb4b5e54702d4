"""The single warehouse writer: a file lock plus build-in-a-copy, so readers are never blocked.

DuckDB locks its file against every other process while a read-write connection is open. The writer
therefore never opens the live file read-write: under an exclusive ``flock`` on ``warehouse.lock`` it copies
the file to a temporary sibling, writes there (raw loads, ``dbt build``) and atomically renames the copy
over the live file. Readers open short read-only connections on whatever file is live; a reader that opened
the old file keeps reading it until it closes. Cost: one file copy per refresh (see benchmarks/metrics.py).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path(warehouse: Path) -> Path:
    """The lock file beside the warehouse."""
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def warehouse_writer(warehouse: Path) -> Iterator[Path]:
    """Hold the writer lock and yield a private copy of ``warehouse`` that replaces it on success.

    On error the copy is discarded and the live file is untouched. Close every DuckDB connection to the copy
    before leaving the block.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(warehouse), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        building = warehouse.with_name(f".{warehouse.name}.{os.getpid()}.building")
        _remove(building)
        try:
            if warehouse.exists():
                shutil.copyfile(warehouse, building)
            yield building
            if Path(f"{building}.wal").exists():
                raise RuntimeError(f"{building} still has a write-ahead log: a connection was left open")
            os.replace(building, warehouse)
        finally:
            _remove(building)
            fcntl.flock(lock, fcntl.LOCK_UN)


def writer_busy(warehouse: Path) -> bool:
    """True while a writer (this process or another) holds the lock of ``warehouse``."""
    if not lock_path(warehouse).exists():
        return False
    with open(lock_path(warehouse), "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)

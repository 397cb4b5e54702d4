"""The files a run reads, kept on disk in path order: the plan's memory does not grow with the repository."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

_CHUNK = 1024  # records pickled together: one chunk is all a reader or writer holds


@dataclass(frozen=True)
class PlannedRead:
    """A file the run must read: its path, blob, and the document uid when the catalog already has it."""

    path: str
    blob_id: str
    known_uid: str | None


class PlannedReads:
    """An append-then-read sequence of ``PlannedRead`` in an unlinked temporary file (gone with the process).

    The plan appends in path order; rename pairing and the batches then read it as often as they need, each
    reader holding one chunk of records. Paths passed to ``drop`` (new paths found to be renames) are left out.
    """

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._chunk: list[tuple[str, str, str | None]] = []
        self._written = 0
        self._dropped: set[str] = set()
        self._closed = False

    def append(self, path: str, blob_id: str, known_uid: str | None) -> None:
        """Add the next file to read (``index.plan.OnRead``)."""
        if self._closed:
            raise ValueError("the planned reads were closed")
        self._chunk.append((path, blob_id, known_uid))
        self._written += 1
        if len(self._chunk) >= _CHUNK:
            self._flush()

    def drop(self, paths: Iterable[str]) -> None:
        """Leave ``paths`` (appended before) out of every later read."""
        self._dropped.update(paths)

    @property
    def bytes_on_disk(self) -> int:
        """Size of the file (what the list would otherwise hold in memory)."""
        self._flush()
        return os.fstat(self._file.fileno()).st_size if self._file is not None else 0

    def __len__(self) -> int:
        return self._written - len(self._dropped)

    def __iter__(self) -> Iterator[PlannedRead]:
        if self._closed:
            raise ValueError("the planned reads were closed")
        self._flush()
        offset = 0
        while self._file is not None:
            self._file.seek(offset)
            try:
                chunk = pickle.load(self._file)
            except EOFError:
                return
            offset = self._file.tell()
            for path, blob_id, known_uid in chunk:
                if path not in self._dropped:
                    yield PlannedRead(path, blob_id, known_uid)

    def close(self) -> None:
        """Free the file's disk space now (it is unlinked already); the length stays, reading is over."""
        self._closed = True
        self._chunk = []
        if self._file is not None:
            self._file.close()

    def _flush(self) -> None:
        if not self._chunk:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="lightfast-plan-")  # noqa: SIM115 (closed by close())
        self._file.seek(0, os.SEEK_END)
        pickle.dump(self._chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._chunk = []

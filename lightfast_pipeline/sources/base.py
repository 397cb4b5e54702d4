"""The source interface: what ingestion needs from a repository host (local git, GitHub, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# git tree modes
MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"


class SymlinkError(OSError):
    """``read_file`` was asked for a path that is a symbolic link (its target may lie outside the repository)."""


@dataclass(frozen=True)
class TreeEntry:
    """One file-like entry of a tree at a commit. ``size`` is None for submodules."""

    path: str
    blob_id: str
    size: int | None
    mode: str

    @property
    def is_symlink(self) -> bool:
        return self.mode == MODE_SYMLINK

    @property
    def is_submodule(self) -> bool:
        return self.mode == MODE_SUBMODULE


@dataclass(frozen=True)
class RepositoryInfo:
    """What the host says about a repository: its immutable id, current name, default branch."""

    source_id: str
    full_name: str
    default_branch: str
    archived: bool = False
    private: bool | None = None


class SourceError(Exception):
    """An expected failure talking to a source (missing ref, unreachable host); the message is user-facing."""


class RetryableSourceError(SourceError):
    """A failure that a later run will likely not see (outage, rate limit)."""


@runtime_checkable
class Source(Protocol):
    """A repository host. Blob ids are content identities: the same id means the same bytes."""

    def repository_info(self) -> RepositoryInfo:
        """Identity, name and default branch of the repository."""
        ...

    def head_commit(self, ref: str | None = None) -> str:
        """Commit sha at the tip of ``ref`` (a branch name), or of the default branch."""
        ...

    def tree(self, commit: str) -> Iterable[TreeEntry]:
        """Every blob, symlink and submodule entry of the tree at ``commit`` (recursive, nothing missed), in
        the byte order of their UTF-8 paths (git's own order; the run plan merges it with the catalog)."""
        ...

    def read_blobs(self, blob_ids: Iterable[str], max_bytes: int | None = None) -> Iterator[tuple[str, bytes]]:
        """Bytes of each blob, as (blob id, bytes). Blobs larger than ``max_bytes`` are not fetched."""
        ...

    def read_file(self, commit: str, path: str) -> bytes | None:
        """Bytes of ``path`` at ``commit``, or None when there is no such file; IsADirectoryError for a folder,
        SymlinkError for a symbolic link (never followed: its target may lie outside the repository)."""
        ...

    @property
    def api_calls(self) -> int:
        """Requests made to the host by this source object (0 for local git)."""
        ...

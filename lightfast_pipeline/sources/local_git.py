"""A repository in a local git directory, read through the `git` command (plumbing only)."""

from __future__ import annotations

import contextlib
import posixpath
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from lightfast_pipeline.sources.base import (
    MODE_SUBMODULE,
    MODE_SYMLINK,
    RepositoryInfo,
    SourceError,
    SymlinkError,
    TreeEntry,
)

_FEED_BATCH = 512
_READ_BYTES = 1 << 16


def _feed_ids(stdin: IO[bytes], ids: list[str]) -> None:
    """Write every id to ``git cat-file --batch`` and close its input; stop quietly if git has gone."""
    try:
        for start in range(0, len(ids), _FEED_BATCH):
            stdin.write("".join(f"{blob_id}\n" for blob_id in ids[start : start + _FEED_BATCH]).encode())
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass


def _discard(stream: IO[bytes], count: int) -> None:
    """Read and drop ``count`` bytes in bounded pieces."""
    while count > 0:
        piece = stream.read(min(count, 1 << 20))
        if not piece:
            return
        count -= len(piece)


def _git(path: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    try:
        completed = subprocess.run(
            ["git", "-C", str(path), *args],
            input=input_bytes,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as error:
        raise SourceError("git is not installed or not on PATH") from error
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(f"git {args[0]} failed in {path}: {message[-1] if message else 'unknown error'}")
    return completed.stdout


def _records(path: Path, *args: str) -> Iterator[bytes]:
    """The NUL-terminated records a git command prints, read in pieces; SourceError when git fails."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(["git", "-C", str(path), *args], stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError as error:
            raise SourceError("git is not installed or not on PATH") from error
        assert process.stdout is not None
        try:
            rest = b""
            while piece := process.stdout.read(_READ_BYTES):
                *records, rest = (rest + piece).split(b"\0")
                yield from records
            if rest:
                yield rest
            returncode = process.wait()
        finally:
            if process.returncode is None:  # the caller stopped early
                process.kill()
                process.wait()
            process.stdout.close()
        if returncode != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"git {args[0]} failed in {path}: {message[-1] if message else 'unknown error'}")


class LocalGitSource:
    """A git working copy or bare repository on this machine. ``source_id`` is assigned at connect."""

    def __init__(self, path: str | Path, source_id: str = "", default_branch: str | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        self.source_id = source_id
        self._default_branch = default_branch

    @property
    def api_calls(self) -> int:
        return 0

    def validate(self) -> None:
        """Raise SourceError unless the path is a git repository with at least one commit."""
        if not self.path.is_dir():
            raise SourceError(f"{self.path} is not a directory")
        _git(self.path, "rev-parse", "--git-dir")
        self.head_commit()

    def default_branch(self) -> str:
        """The branch HEAD points at (the branch followed unless another is recorded at connect)."""
        if self._default_branch:
            return self._default_branch
        return _git(self.path, "symbolic-ref", "--short", "HEAD").decode().strip()

    def repository_info(self) -> RepositoryInfo:
        return RepositoryInfo(
            source_id=self.source_id,
            full_name=self.path.name,
            default_branch=self.default_branch(),
        )

    def head_commit(self, ref: str | None = None) -> str:
        branch = ref or self.default_branch()
        return _git(self.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}").decode().strip()

    def tree(self, commit: str) -> Iterator[TreeEntry]:
        """Stream the entries of ``git ls-tree -r`` in its order: the byte order of full paths.

        One record is parsed at a time from git's output (never the whole listing), so a caller that keeps
        nothing holds nothing; a failing git raises SourceError when the listing ends.
        """
        for record in _records(self.path, "ls-tree", "-r", "-l", "-z", "--full-tree", commit):
            meta, path = record.split(b"\t", 1)
            mode, _kind, blob_id, size = meta.decode().split()
            yield TreeEntry(
                path=path.decode("utf-8", "surrogateescape"),
                blob_id=blob_id,
                size=None if mode == MODE_SUBMODULE or size == "-" else int(size),
                mode=mode,
            )

    def read_blobs(self, blob_ids: Iterable[str], max_bytes: int | None = None) -> Iterator[tuple[str, bytes]]:
        """Stream ``(blob_id, bytes)`` through one ``git cat-file --batch`` process, skipping blobs over ``max_bytes``.

        The ids are written by a feeder thread while this generator reads the answers: writing them all first
        deadlocks once they fill the pipe (git blocks writing blobs nobody reads, we block writing ids). Memory
        holds one blob at a time; a blob over ``max_bytes`` is drained in pieces, never held whole.
        """
        ids = list(dict.fromkeys(blob_ids))
        if not ids:
            return
        # Answers are "<id> blob <size>\n", the bytes, "\n" per id, or "<id> missing\n".
        process = subprocess.Popen(
            ["git", "-C", str(self.path), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdin is not None and process.stdout is not None
        feeder = threading.Thread(target=_feed_ids, args=(process.stdin, ids), daemon=True)
        feeder.start()
        try:
            for blob_id in ids:
                header = process.stdout.readline().decode().split()
                if len(header) < 3 or header[1] == "missing":
                    raise SourceError(f"blob {blob_id} is missing from {self.path}")
                size = int(header[2])
                if max_bytes is not None and size > max_bytes:
                    _discard(process.stdout, size + 1)
                    continue
                data = process.stdout.read(size)
                process.stdout.read(1)
                yield blob_id, data
        finally:
            # Closing our end first makes git exit (EPIPE) if the caller stopped early; the feeder then ends too.
            process.stdout.close()
            process.kill()
            process.wait()
            feeder.join()

    def read_file(self, commit: str, path: str, *, follow: bool = True) -> bytes | None:
        """The file's bytes at ``commit``; None when absent (or a submodule); IsADirectoryError when ``path`` is a
        folder. A symbolic link is read as GitHub's contents API reads it: followed once when it names a file of
        the repository, else SymlinkError (a link out of the repository is never followed)."""
        try:
            listing = _git(self.path, "--literal-pathspecs", "ls-tree", "-z", "--full-tree", commit, "--", path)
        except SourceError:  # an unknown commit
            return None
        if not listing:
            return None
        meta, _name = listing.split(b"\0")[0].split(b"\t", 1)
        mode, kind, object_id = meta.decode().split()
        if kind == "tree":
            raise IsADirectoryError(path)
        if kind != "blob":
            return None
        data = _git(self.path, "cat-file", "blob", object_id)
        if mode != MODE_SYMLINK:
            return data
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), data.decode(errors="replace")))
        inside = not data.startswith(b"/") and target != ".." and not target.startswith("../")
        if follow and inside:
            with contextlib.suppress(IsADirectoryError, SymlinkError):
                followed = self.read_file(commit, target, follow=False)
                if followed is not None:
                    return followed
        raise SymlinkError(path)

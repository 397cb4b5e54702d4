"""A repository in a local git directory, read through the `git` command (plumbing only)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from lightfast_pipeline.sources.base import MODE_SUBMODULE, RepositoryInfo, SourceError, TreeEntry


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
        return (
            _git(self.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
            .decode()
            .strip()
        )

    def tree(self, commit: str) -> list[TreeEntry]:
        output = _git(self.path, "ls-tree", "-r", "-l", "-z", "--full-tree", commit)
        entries: list[TreeEntry] = []
        for record in output.split(b"\0"):
            if not record:
                continue
            meta, path = record.split(b"\t", 1)
            mode, _kind, blob_id, size = meta.decode().split()
            entries.append(
                TreeEntry(
                    path=path.decode("utf-8", "surrogateescape"),
                    blob_id=blob_id,
                    size=None if mode == MODE_SUBMODULE or size == "-" else int(size),
                    mode=mode,
                )
            )
        return entries

    def read_blobs(
        self, blob_ids: Iterable[str], max_bytes: int | None = None
    ) -> Iterator[tuple[str, bytes]]:
        ids = list(dict.fromkeys(blob_ids))
        if not ids:
            return
        # One `git cat-file --batch` process streams every blob: header "<id> blob <size>\n", bytes, "\n".
        process = subprocess.Popen(
            ["git", "-C", str(self.path), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write("".join(f"{blob_id}\n" for blob_id in ids).encode())
            process.stdin.close()
            for blob_id in ids:
                header = process.stdout.readline().decode().split()
                if len(header) < 3 or header[1] == "missing":
                    raise SourceError(f"blob {blob_id} is missing from {self.path}")
                size = int(header[2])
                data = process.stdout.read(size)
                process.stdout.read(1)
                if max_bytes is not None and size > max_bytes:
                    continue
                yield blob_id, data
        finally:
            process.stdout.close()
            process.wait()

    def read_file(self, commit: str, path: str) -> bytes | None:
        try:
            return _git(self.path, "cat-file", "blob", f"{commit}:{path}")
        except SourceError:
            return None

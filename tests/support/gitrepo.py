"""Real git repositories built by tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}

DEFAULT_CONFIG = 'version: 1\nstore: docs\ninclude:\n  - "**/*.md"\n'


class GitRepo:
    """A git working copy with helpers to write, move, delete and commit files."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        self.branch = branch
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)

    def git(self, *args: str) -> str:
        import os

        completed = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **GIT_ENV},
        )
        return completed.stdout.strip()

    def write(self, relative: str, content: str | bytes) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        return target

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text(encoding="utf-8")

    def move(self, source: str, destination: str) -> None:
        (self.path / destination).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", source, destination)

    def remove(self, relative: str) -> None:
        self.git("rm", "-q", "-r", relative)

    def copy_tree(self, source: Path, destination: str = "") -> None:
        shutil.copytree(source, self.path / destination, dirs_exist_ok=True)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def reset_hard(self, commit: str) -> None:
        self.git("reset", "-q", "--hard", commit)

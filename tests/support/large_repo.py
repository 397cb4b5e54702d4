"""Generated repositories of many files, written with ``git fast-import`` (250,000 files in seconds).

Layout: ``lightfast.yml`` selecting ``docs/**/*.md``, Markdown pages in folders four levels deep
(``docs/area-XX/topic-YY/part-Z/page-NNNNNN.md``, every page distinct), and one excluded file per ten pages
(``assets/…/data-NNNNNN.json``), so a listing also carries files the config does not select.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

CONFIG = b'version: 1\nstore: docs\ninclude: ["docs/**/*.md"]\n'
EXCLUDED_EVERY = 10  # one excluded file per this many pages


def page_path(n: int) -> str:
    """Where page ``n`` lives: four folder levels, ~25 pages per leaf folder at 250,000 pages."""
    return f"docs/area-{n % 40:02d}/topic-{n // 40 % 25:02d}/part-{n // 1000 % 10}/page-{n:06d}.md"


def page_text(n: int) -> bytes:
    """A small, distinct Markdown page."""
    return f"# Page {n}\n\nTopic {n % 997} of area {n % 40}: notes number {n}.\n".encode()


def _stream(pages: int, branch: str) -> Iterator[bytes]:
    files = [("lightfast.yml", CONFIG)]
    files += [(page_path(n), page_text(n)) for n in range(pages)]
    files += [
        (f"assets/area-{n % 40:02d}/data-{n:06d}.json", b'{"n": %d}\n' % n) for n in range(0, pages, EXCLUDED_EVERY)
    ]
    for mark, (_, data) in enumerate(files, start=1):
        yield b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data)
    yield (
        f"commit refs/heads/{branch}\nmark :{len(files) + 1}\n"
        "author Bench <bench@example.com> 1700000000 +0000\n"
        "committer Bench <bench@example.com> 1700000000 +0000\n"
        f"data 9\ngenerated\n"
    ).encode()
    for mark, (path, _) in enumerate(files, start=1):
        yield f"M 100644 :{mark} {path}\n".encode()
    yield b"\n"


def generate_repository(path: Path, pages: int, *, branch: str = "main") -> int:
    """Create a git repository at ``path`` with ``pages`` pages (plus the config and excluded files).

    Returns the number of files in its tree.
    """
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True)
    process = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    assert process.stdin is not None
    for piece in _stream(pages, branch):
        process.stdin.write(piece)
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError(f"git fast-import failed for {path}")
    return 1 + pages + len(range(0, pages, EXCLUDED_EVERY))

"""Both streams of the run plan come in the same order: the local git tree and the catalog's documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from lightfast_pipeline.index.plan import path_key
from lightfast_pipeline.ingestion.tree_plan import known_documents
from lightfast_pipeline.sources.base import SourceError
from lightfast_pipeline.sources.local_git import LocalGitSource
from tests.support.gitrepo import GitRepo

# Byte order differs from a linguistic collation here: "Z" before "a", "é" after "f", "." before "/".
PATHS = ["a.md", "Z.md", "é/x.md", "e.md", "f.md", "a/b.md", "a.b.md", "日本/ページ.md", "a-b.md"]


def test_the_local_git_tree_streams_in_path_byte_order(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    for path in PATHS:
        repo.write(path, f"# {path}\n")
    repo.commit("pages")
    source = LocalGitSource(repo.path)
    head = source.head_commit()
    listing = source.tree(head)
    assert isinstance(listing, Iterator)  # nothing is listed until it is read
    assert [entry.path for entry in listing] == sorted(PATHS, key=path_key)
    first = source.tree(head)
    assert next(first).path == "Z.md"
    first.close()  # a reader that stops early ends git
    with pytest.raises(SourceError, match="ls-tree failed"):
        list(source.tree("0" * 40))


def _documents_table(url: str, collation: str) -> sa.Engine:
    """Only the columns the plan reads, with ``path`` in ``collation`` (not byte order where one is given)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE documents (id INTEGER PRIMARY KEY, uid VARCHAR(32), store_id INTEGER, "
                f"repository_id INTEGER, path VARCHAR(1024) {collation}, blob_id VARCHAR(64), config_hash VARCHAR(64))"
            )
        )
        rows = [
            {"id": n, "uid": f"u{n}", "store": store, "path": path}
            for n, (store, path) in enumerate([(1, path) for path in PATHS] + [(2, "b.md")], start=1)
        ]
        connection.execute(
            sa.text(
                "INSERT INTO documents VALUES (:id, :uid, :store, 7, :path, 'blob', 'cfg')",
            ),
            rows,
        )
    return engine


def _known_paths(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        return [path for path, _document in known_documents(session, repository_id=7, store_id=1)]


def test_the_catalog_streams_in_path_byte_order_on_sqlite(tmp_path: Path) -> None:
    engine = _documents_table(f"sqlite:///{tmp_path / 'catalog.db'}", "")
    assert _known_paths(engine) == sorted(PATHS, key=path_key)


@pytest.mark.postgres
def test_the_catalog_streams_in_path_byte_order_on_postgresql(postgres_url: str) -> None:
    engine = _documents_table(postgres_url, 'COLLATE "und-x-icu"')
    with engine.connect() as connection:  # the column's own order is not byte order
        ordered = connection.execute(sa.text("SELECT path FROM documents WHERE store_id = 1 ORDER BY path"))
        assert [path for (path,) in ordered] != sorted(PATHS, key=path_key)
    assert _known_paths(engine) == sorted(PATHS, key=path_key)

"""The keyword index's rows as the catalog holds them (the index is DDL and triggers of migration 0003).

It is no SQLAlchemy model: SQLite keeps it in an FTS5 virtual table (with its shadow tables) and a rowid map,
PostgreSQL in a ``tsvector`` table, both written only by triggers on ``chunks`` and ``documents``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

KEYWORD_TABLES = frozenset(
    {
        "chunk_keywords",
        "chunk_fts",
        "chunk_fts_data",
        "chunk_fts_idx",
        "chunk_fts_content",
        "chunk_fts_docsize",
        "chunk_fts_config",
        "chunk_fts_vocab",
    }
)
"""Tables of the keyword index (the FTS5 ones exist on SQLite only); not in the models, by design."""
STREAM_ROWS = 10_000


def stream_keyword_ids(session: Session, repository_uid: str) -> Iterator[str]:
    """Vector ids of one repository that have a keyword row (SQLite: the map row and its FTS row), fetched
    STREAM_ROWS at a time."""
    if session.get_bind().dialect.name == "sqlite":
        sql = "SELECT k.vector_id FROM chunk_keywords k JOIN chunk_fts f ON f.rowid = k.id WHERE k.vector_id LIKE :p"
    else:
        sql = "SELECT vector_id FROM chunk_keywords WHERE vector_id LIKE :p"
    options = {"yield_per": STREAM_ROWS}
    return iter(session.scalars(text(sql), {"p": f"{repository_uid}:%"}, execution_options=options))


def keyword_ids(session: Session, repository_uid: str) -> set[str]:
    """Vector ids of one repository that have a keyword row, as a set."""
    return set(stream_keyword_ids(session, repository_uid))


def rewrite_keyword_rows(session: Session, missing: list[str], orphaned: list[str]) -> int:
    """Converge the keyword index on the ledger for these ids; return how many rows changed.

    A ledger row without its keyword row is deleted and inserted again in this transaction (its triggers write
    the keyword row); a keyword row without a ledger row is deleted.
    """
    from lightfast_pipeline.catalog.models import Chunk

    rewritten = 0
    for vector_id in missing:
        chunk = session.scalar(select(Chunk).where(Chunk.vector_id == vector_id))
        if chunk is None:
            continue
        values = {column.key: getattr(chunk, column.key) for column in Chunk.__table__.columns}
        session.delete(chunk)
        session.flush()
        session.add(Chunk(**values))
        session.flush()
        rewritten += 1
    sqlite = session.get_bind().dialect.name == "sqlite"
    for vector_id in orphaned:
        if sqlite:
            session.execute(
                text("DELETE FROM chunk_fts WHERE rowid = (SELECT id FROM chunk_keywords WHERE vector_id = :v)"),
                {"v": vector_id},
            )
        session.execute(text("DELETE FROM chunk_keywords WHERE vector_id = :v"), {"v": vector_id})
        rewritten += 1
    return rewritten

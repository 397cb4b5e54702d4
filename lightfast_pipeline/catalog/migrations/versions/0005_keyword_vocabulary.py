"""keyword vocabulary: how many chunks hold each word (SQLite)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:10:00

SQLite: ``chunk_fts_vocab``, an ``fts5vocab`` table over ``chunk_fts`` (no storage of its own: it reads the
FTS5 index), so keyword search can tell the words most chunks hold and leave them out of its BM25 query
(``search/keyword.py``). PostgreSQL: nothing (its keyword search ranks with ``ts_rank`` over a GIN index).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE chunk_fts_vocab USING fts5vocab(chunk_fts, 'row')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE chunk_fts_vocab")

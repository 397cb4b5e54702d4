"""activity trigram search: an FTS5 trigram index of the timeline's searched columns (SQLite)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 13:00:00

SQLite: ``activity_fts``, an FTS5 table with ``tokenize = 'trigram'`` over the four columns the timeline's text
search matches with ``LIKE`` (``repository_name``, ``actor``, ``reason``, ``message``). It is an external-content
table (``content = 'activity'``: the text is not stored twice, only its trigrams) kept in step by triggers on
``activity`` in the writing transaction; existing rows are indexed by the upgrade (``'rebuild'``). The
timeline reads candidate rows from it (``activity/search.py``). The trigram tokenizer needs SQLite 3.34: with an
older library nothing is created and the timeline keeps reading the activity rows (it looks for the table).
PostgreSQL: nothing (migration 0006's trigram GIN indexes serve the same search).
"""

import sqlite3
from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGRAM_SQLITE = (3, 34, 0)
_COLUMNS = "repository_name, actor, reason, message"
_OLD = "old.repository_name, old.actor, old.reason, old.message"
_NEW = "new.repository_name, new.actor, new.reason, new.message"
UPGRADE = [
    f"CREATE VIRTUAL TABLE activity_fts USING fts5({_COLUMNS}, "
    "content = 'activity', content_rowid = 'id', columnsize = 0, tokenize = 'trigram')",
    f"""CREATE TRIGGER activity_fts_insert AFTER INSERT ON activity BEGIN
        INSERT INTO activity_fts (rowid, {_COLUMNS}) VALUES (new.id, {_NEW});
    END""",
    f"""CREATE TRIGGER activity_fts_delete AFTER DELETE ON activity BEGIN
        INSERT INTO activity_fts (activity_fts, rowid, {_COLUMNS}) VALUES ('delete', old.id, {_OLD});
    END""",
    f"""CREATE TRIGGER activity_fts_update AFTER UPDATE OF id, {_COLUMNS} ON activity BEGIN
        INSERT INTO activity_fts (activity_fts, rowid, {_COLUMNS}) VALUES ('delete', old.id, {_OLD});
        INSERT INTO activity_fts (rowid, {_COLUMNS}) VALUES (new.id, {_NEW});
    END""",
    "INSERT INTO activity_fts (activity_fts) VALUES ('rebuild')",
]
DOWNGRADE = [
    "DROP TRIGGER IF EXISTS activity_fts_update",
    "DROP TRIGGER IF EXISTS activity_fts_delete",
    "DROP TRIGGER IF EXISTS activity_fts_insert",
    "DROP TABLE IF EXISTS activity_fts",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info >= TRIGRAM_SQLITE:
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWNGRADE:
            op.execute(statement)

"""activity search indexes: trigram indexes for the timeline's text search (PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:30:00

PostgreSQL: the extension ``pg_trgm`` and one GIN ``gin_trgm_ops`` index on each activity column the timeline's
text search matches, ``col ILIKE '%' || text || '%'`` (what SQLAlchemy's ``icontains`` sends to PostgreSQL: the
plain column, so the indexes are on the columns, not ``lower(col)``), plus a B-tree on ``repository_id`` for the
search's "renamed repository" branch (``repository_id IN (…)``): every branch of the OR is then an index scan,
and a word few rows contain reads those rows (a BitmapOr) instead of every activity row. These indexes are not
in the models (no other dialect has them); ``tests/test_catalog.py`` lists them.

A role that may not create the extension makes this migration fail, with a message saying what to run: the
catalog keeps its previous revision (the transaction rolls back) and nothing starts until an administrator runs
``CREATE EXTENSION pg_trgm`` in the catalog's database. Chosen over degrading (skipping the indexes) because
then revision 0006 would mean two schemas and nothing would ever create the indexes later. Since PostgreSQL 13
``pg_trgm`` is a trusted extension: the database's owner, or any role with CREATE on the database, creates it.

The downgrade drops the indexes and keeps the extension (it may predate this migration or serve others).
The indexes are built in the migration's transaction: activity writes wait for the build (1.6 s at 100,000 rows,
load 13; README, "Console"). SQLite: nothing (its search reads the activity rows newest first until a page is
full).
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import exc, text

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGRAM_COLUMNS = ("repository_name", "actor", "reason", "message")


def _create_extension() -> None:
    bind = op.get_bind()
    role, database = bind.execute(text("SELECT current_user, current_database()")).one()
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0]
        raise RuntimeError(
            f"catalog migration 0006 needs the PostgreSQL extension pg_trgm (the activity search's trigram "
            f'indexes) and role "{role}" could not create it in database "{database}": {reason}. '
            f'Have an administrator run "CREATE EXTENSION pg_trgm;" in database "{database}" (PostgreSQL 13+: '
            "its owner or any role with CREATE on it may), then start again; the catalog keeps its previous revision."
        ) from error


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _create_extension()
    for column in TRIGRAM_COLUMNS:
        op.execute(f"CREATE INDEX ix_activity_{column}_trgm ON activity USING gin ({column} gin_trgm_ops)")
    op.execute("CREATE INDEX ix_activity_repository_id ON activity (repository_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_activity_repository_id")
    for column in TRIGRAM_COLUMNS:
        op.execute(f"DROP INDEX ix_activity_{column}_trgm")

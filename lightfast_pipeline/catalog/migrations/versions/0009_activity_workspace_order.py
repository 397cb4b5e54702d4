"""activity by workspace in timeline order: an index on (workspace_id, at, id)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:10:00

The console and the API always read one workspace's timeline, newest first. With only ``ix_activity_at_id`` and
the single-column workspace index, SQLite chose the workspace index, read every row of the workspace (46,752 of
100,000 in the console benchmark) and sorted them for a page of 50. With this index both databases walk the
workspace's rows newest first and stop after the page.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_activity_workspace_at_id", "activity", ["workspace_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("ix_activity_workspace_at_id", table_name="activity")

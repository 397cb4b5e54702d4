"""The activity text search's candidate rows on SQLite: the FTS5 trigram table of migration 0007.

The timeline matches ``lower(col) LIKE '%text%'`` on four columns; SQLite has no index for that, so without help
it reads the activity rows (newest first until a page is full, or a whole workspace's rows when it picks that
index) and all of them when few rows match. ``activity_fts`` indexes those columns' trigrams, case-folded, so a
phrase query returns every row whose columns contain the text, and more: it folds non-ASCII case too, which
``LIKE`` does not. The timeline therefore keeps its ``LIKE`` conditions and adds ``id IN`` the candidates, so it
returns exactly the rows the walk returns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, func, select, table
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

ACTIVITY_SEARCH_TABLES = frozenset({"activity_fts", "activity_fts_data", "activity_fts_idx", "activity_fts_config"})
"""The FTS5 table and its shadow tables (SQLite only); not in the models, by design."""

TRIGRAM = 3  # shorter texts have no trigram: an FTS5 trigram phrase that short matches nothing
MAX_CANDIDATES = 2000
"""Above this many candidate rows the walk is kept. Reading the candidates costs about 5 µs each (found by id,
matched, sorted), whatever the page; the walk reads rows newest first until the page is full, so a text that many
rows hold fills it after a few thousand rows (~2 ms with no other filter at 2,000 candidates in 100,000 rows), and
a text few rows hold makes it read them all (~60 ms). Filtered by workspace, SQLite reads that workspace's rows
by ``ix_activity_workspace_id`` and sorts them (no statistics tell it the newest-first index is cheaper), so the
walk costs ~60 ms even for common texts. 2,000 candidates (~12 ms on the index path; README, "Console") keep
the rare texts on the index, the common ones on the walk that stops early, and bound the index path's cost."""

_FTS = table("activity_fts", column("rowid"))
_EXISTS = sql("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'activity_fts'")


def phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: in double quotes, its own double quotes doubled (no query syntax left)."""
    return '"' + text.replace('"', '""') + '"'


def candidates(session: Session, text: str) -> Any:
    """A ``SELECT`` of the ids of the activity rows whose searched columns may contain ``text`` (a superset of the
    ``LIKE`` matches), or ``None`` when the rows are better read in order: not SQLite, a text shorter than a
    trigram, more than :data:`MAX_CANDIDATES` candidates, or no ``activity_fts`` (SQLite older than 3.34 at
    migration 0007)."""
    if len(text) < TRIGRAM or session.get_bind().dialect.name != "sqlite" or not session.scalar(_EXISTS):
        return None
    query = select(_FTS.c.rowid).where(sql("activity_fts MATCH :phrase").bindparams(phrase=phrase(text)))
    found = session.scalar(select(func.count()).select_from(query.limit(MAX_CANDIDATES + 1).subquery()))
    return query if found <= MAX_CANDIDATES else None

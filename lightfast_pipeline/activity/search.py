"""The activity text search's candidate rows on SQLite: the FTS5 trigram table of migration 0008.

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
"""Above this many candidate rows the search reads rows in order, as without the index. The index path costs about
5 µs a candidate, whatever the page (each found by id, matched, sorted: ~20 ms of CPU at 2,000). Reading in order
stops once the page is full, so it is cheap for a common text and dear for a rare one: unfiltered, a text that 2 %
of 100,000 rows hold fills a page of 50 after ~2,500 rows (~12 ms), a text no row holds reads all 100,000 (~60 ms
and more). So a rare text, the case that read every row, takes the index, and a common one keeps the early stop;
2,000 is about where both cost the same without filters. (Filtered by workspace, as the console and API always
are, SQLite reads the workspace's rows through ``ix_activity_workspace_id`` and sorts them, ~60 ms whatever the
text, so there the index path is the cheaper one up to ~8,000 candidates; 2,000 keeps it at a third of that.)"""

_FTS = table("activity_fts", column("rowid"))
_EXISTS = sql("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'activity_fts'")


def phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: in double quotes, its own double quotes doubled (no query syntax left)."""
    return '"' + text.replace('"', '""') + '"'


def candidates(session: Session, text: str) -> Any:
    """A ``SELECT`` of the ids of the activity rows whose searched columns may contain ``text`` (a superset of the
    ``LIKE`` matches), or ``None`` when the rows are better read in order: not SQLite, a text shorter than a
    trigram or holding a NUL (an FTS5 query ends there, unterminated), more than :data:`MAX_CANDIDATES`
    candidates, or no ``activity_fts`` (SQLite older than 3.34 at migration 0008)."""
    if len(text) < TRIGRAM or "\x00" in text or session.get_bind().dialect.name != "sqlite":
        return None
    if not session.scalar(_EXISTS):
        return None
    query = select(_FTS.c.rowid).where(sql("activity_fts MATCH :phrase").bindparams(phrase=phrase(text)))
    found = session.scalar(select(func.count()).select_from(query.limit(MAX_CANDIDATES + 1).subquery()))
    return query if found <= MAX_CANDIDATES else None

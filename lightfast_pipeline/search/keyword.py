"""Keyword retrieval from the catalog's full-text index (SQLite FTS5 BM25, PostgreSQL tsvector).

The index itself is kept by triggers on the ledger (migration 0003): this module only reads it. Text is indexed
with every non-alphanumeric run read as a space, so a query token that holds several words (``ERR_CERT_INVALID``,
``index.number_of_replicas``, ``--max-old-space-size``, ``webContents.printToPDF``) becomes a phrase of adjacent
words, and its words also count on their own (``ses.setProxy`` in a page still answers ``session.setProxy``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

# Weights of the title, heading path and chunk text (the text also starts with its breadcrumb).
TITLE_WEIGHT, HEADING_WEIGHT, BODY_WEIGHT = 3.0, 2.0, 1.0
MAX_TERMS = 32
_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = """
a an and are as at be by can do does for from how i if in is it its me my of on or so that the their this to
use using was what when where which while who why will with without you your
"""
STOPWORDS = frozenset(_STOPWORDS.split())
# A word in more than this share of the indexed chunks is "common": BM25 gives it almost no weight (idf =
# ln((N - n + 0.5) / (n + 0.5)) is 2.2 at 10 %, 0.3 at 42 %, against 5 to 9 for the words that find a page), yet
# FTS5 scores every row a query matches, so such words were most of the keyword query's time (100k chunks:
# "electron" alone matches 42 % of them, ~30 ms). When a rarer word or an identifier phrase remains, common words
# are left out of the query (Lucene's common-terms cut-off); a query of common words only keeps its rarest one.
# Measured on the graded queries in README ("Search latency at 100,000 chunks").
COMMON_SHARE = 0.10
# Below this many chunks a word costs ~1 ms to score: never worth leaving out (small stores keep whole queries).
COMMON_MIN_CHUNKS = 2000
ROW_COUNT_SECONDS = 300.0  # how long a store's chunk count is reused to decide what is common


@dataclass(frozen=True)
class KeywordQuery:
    """Single words and multi-word phrases (identifiers), any of which may match."""

    terms: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases


@dataclass(frozen=True)
class KeywordMatch:
    vector_id: str
    score: float  # higher is better


def parse_query(query: str) -> KeywordQuery:
    """Split a query into lower-cased words (stop words dropped) and identifier phrases."""
    terms: dict[str, None] = {}
    phrases: dict[tuple[str, ...], None] = {}
    for token in query.lower().split():
        words = tuple(_WORD.findall(token))
        if len(words) > 1:
            phrases[words] = None
        terms.update((word, None) for word in words if word not in STOPWORDS)
    return KeywordQuery(tuple(terms)[:MAX_TERMS], tuple(phrases)[:MAX_TERMS])


def without_common_terms(query: KeywordQuery, chunk_counts: Mapping[str, int], rows: int) -> KeywordQuery:
    """``query`` without its common words (see ``COMMON_SHARE``), given how many of ``rows`` chunks hold each word.

    Phrases are always kept (they are cheap: FTS5 matches them by position). A query left with no word and no
    phrase keeps its rarest word.
    """
    cutoff = max(COMMON_SHARE * rows, COMMON_MIN_CHUNKS)
    rare = tuple(term for term in query.terms if chunk_counts.get(term, 0) <= cutoff)
    if not rare and not query.phrases and query.terms:
        rare = (min(query.terms, key=lambda term: chunk_counts.get(term, 0)),)
    return KeywordQuery(rare, query.phrases)


def fts5_expression(query: KeywordQuery) -> str:
    """An FTS5 MATCH expression: any phrase or word (words are only letters and digits, so quoting is safe)."""
    parts = [f'"{" ".join(words)}"' for words in query.phrases] + [f'"{word}"' for word in query.terms]
    return " OR ".join(parts)


def tsquery_expression(query: KeywordQuery) -> str:
    """A ``to_tsquery`` expression: any phrase (``a <-> b``) or word."""
    parts = [f"({' <-> '.join(words)})" for words in query.phrases] + list(query.terms)
    return " | ".join(parts)


def _filters(repository_uid: str | None, path_prefix: str | None) -> tuple[str, dict[str, object]]:
    clauses, params = "", {}
    if repository_uid:
        clauses += " AND r.uid = :repository_uid"
        params["repository_uid"] = repository_uid
    if path_prefix:
        escaped = path_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses += " AND d.path LIKE :path_prefix ESCAPE '\\'"
        params["path_prefix"] = escaped + "%"
    return clauses, params


JOINS = (
    "JOIN chunks c ON c.vector_id = k.vector_id JOIN documents d ON d.id = c.document_id "
    "JOIN repositories r ON r.id = c.repository_id"
)
FAST_OVERSAMPLE = 4
_RANKED = (
    f"SELECT rowid, -bm25(chunk_fts, {TITLE_WEIGHT}, {HEADING_WEIGHT}, {BODY_WEIGHT}) AS score FROM chunk_fts "
    "WHERE chunk_fts MATCH :match ORDER BY score DESC LIMIT :limit"
)
# CROSS JOIN fixes SQLite's join order: look the few ranked rows up, never scan the store's chunks.
_ALLOWED = (
    "SELECT k.id, k.vector_id FROM chunk_keywords k CROSS JOIN chunks c ON c.vector_id = k.vector_id "
    "CROSS JOIN documents d ON d.id = c.document_id CROSS JOIN repositories r ON r.id = c.repository_id "
    "WHERE k.id IN ({rowids}) AND {where}"
)


_indexed_rows: dict[str, tuple[float, int]] = {}


def _sqlite_indexed_rows(session: Session) -> int:
    """How many chunks the SQLite keyword index holds, counted at most every ``ROW_COUNT_SECONDS`` per catalog."""
    key = str(session.get_bind().engine.url)
    counted_at, rows = _indexed_rows.get(key, (float("-inf"), 0))
    if time.monotonic() - counted_at > ROW_COUNT_SECONDS:
        rows = int(session.scalar(text("SELECT count(*) FROM chunk_keywords")) or 0)
        _indexed_rows[key] = (time.monotonic(), rows)
    return rows


def _sqlite_chunk_counts(session: Session, terms: Sequence[str]) -> dict[str, int]:
    """How many indexed chunks hold each word, read from the FTS5 vocabulary by the word's Porter stem."""
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("porter")
    stems = {term: stemmer.stemWord(term) for term in terms}
    marks = ", ".join(f":t{n}" for n in range(len(stems)))
    found = dict(
        session.execute(
            text(f"SELECT term, doc FROM chunk_fts_vocab WHERE term IN ({marks})"),
            {f"t{n}": stem for n, stem in enumerate(stems.values())},
        ).all()
    )
    return {term: int(found.get(stem, 0)) for term, stem in stems.items()}


def _sqlite_fast(
    session: Session, parsed: KeywordQuery, where: str, params: dict[str, object], limit: int
) -> list[KeywordMatch] | None:
    """Rank in the FTS table alone, then join only the best rows to check the filters.

    Rows with an exact identifier phrase come first. Returns None when the filters
    removed so many of the over-fetched rows that rows further down might be missed: the caller then runs the
    full query, which filters before it ranks.
    """
    fetch = limit * FAST_OVERSAMPLE
    ranked = dict(session.execute(text(_RANKED), {"match": fts5_expression(parsed), "limit": fetch}).all())
    exact: dict[int, float] = {}
    if parsed.phrases:
        phrases = fts5_expression(KeywordQuery((), parsed.phrases))
        exact = dict(session.execute(text(_RANKED), {"match": phrases, "limit": fetch}).all())
    # Exact rows by their whole-query score where the ranked rows hold it, then the other exact rows, then the rest.
    order = (
        [rowid for rowid in ranked if rowid in exact]
        + [rowid for rowid in exact if rowid not in ranked]
        + [rowid for rowid in ranked if rowid not in exact]
    )
    if not order:
        return []
    rowids = ", ".join(str(int(rowid)) for rowid in order)
    allowed = dict(
        session.execute(
            text(_ALLOWED.format(rowids=rowids, where=where)),
            params,
        ).all()
    )
    if len(allowed) < limit and fetch in (len(ranked), len(exact)):
        return None
    return [
        KeywordMatch(allowed[rowid], ranked.get(rowid, exact.get(rowid, 0.0))) for rowid in order if rowid in allowed
    ][:limit]


def keyword_search(
    session: Session,
    query: str,
    store_ids: Sequence[int],
    limit: int,
    *,
    repository_uid: str | None = None,
    path_prefix: str | None = None,
) -> list[KeywordMatch]:
    """The ``limit`` best chunks of the given stores for ``query``, best first."""
    parsed = parse_query(query)
    if parsed.empty or not store_ids or limit <= 0:
        return []
    clauses, params = _filters(repository_uid, path_prefix)
    stores = ", ".join(str(int(store_id)) for store_id in store_ids)
    where = f"c.store_id IN ({stores}) AND r.active{clauses}"
    # Chunks holding more of the query's identifiers exactly come first, then by score: a typed identifier is
    # stronger evidence than its words scattered through a page.
    phrases = [KeywordQuery((), (words,)) for words in parsed.phrases]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        if parsed.terms and len(parsed.terms) + len(parsed.phrases) > 1:
            counts = _sqlite_chunk_counts(session, parsed.terms)
            parsed = without_common_terms(parsed, counts, _sqlite_indexed_rows(session))
        found = _sqlite_fast(session, parsed, where, params, limit)
        if found is not None:
            return found
        exact = " + ".join(
            f"(chunk_fts.rowid IN (SELECT rowid FROM chunk_fts WHERE chunk_fts MATCH :phrase{n}))"
            for n in range(len(phrases))
        )
        params.update({f"phrase{n}": fts5_expression(phrase) for n, phrase in enumerate(phrases)})
        sql = (
            f"SELECT k.vector_id, -bm25(chunk_fts, {TITLE_WEIGHT}, {HEADING_WEIGHT}, {BODY_WEIGHT}) AS score, "
            f"{exact or 0} AS exact FROM chunk_fts JOIN chunk_keywords k ON k.id = chunk_fts.rowid {JOINS} "
            f"WHERE chunk_fts MATCH :match AND {where} ORDER BY exact DESC, score DESC LIMIT :limit"
        )
        params["match"] = fts5_expression(parsed)
    else:
        # ts_rank weights are {D, C, B, A}: text, (unused), heading, title — the same ratios as BM25's above.
        scale = 0.2
        weights = (
            f"'{{{BODY_WEIGHT * scale}, {BODY_WEIGHT * scale}, {HEADING_WEIGHT * scale}, {TITLE_WEIGHT * scale}}}'"
        )
        exact = " + ".join(f"(k.terms @@ to_tsquery('english', :phrase{n}))::int" for n in range(len(phrases)))
        params.update({f"phrase{n}": tsquery_expression(phrase) for n, phrase in enumerate(phrases)})
        sql = (
            f"SELECT k.vector_id, ts_rank({weights}, k.terms, q, 1) AS score, {exact or 0} AS exact "
            f"FROM chunk_keywords k {JOINS}, to_tsquery('english', :match) q "
            f"WHERE k.terms @@ q AND {where} ORDER BY exact DESC, score DESC LIMIT :limit"
        )
        params["match"] = tsquery_expression(parsed)
    params["limit"] = limit
    return [KeywordMatch(row[0], float(row[1])) for row in session.execute(text(sql), params)]

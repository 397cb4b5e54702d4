"""keyword index: full-text rows kept beside the ledger by triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:00:00

One keyword row per ledger chunk (its document's title, its heading path, its text), written and deleted by
triggers on ``chunks`` (and ``documents.title``), so it changes in the same transaction as the ledger.
SQLite: an FTS5 table ``chunk_fts`` (BM25, Porter stemming) whose rowids ``chunk_keywords`` maps to vector ids.
PostgreSQL: ``chunk_keywords.terms``, a weighted ``tsvector`` (title A, heading B, text D) with a GIN index.
Both index text with every run of non-alphanumeric characters read as a space, so an identifier such as
``ERR_CERT_INVALID`` or ``index.number_of_replicas`` is a run of adjacent words a phrase query finds.
Existing chunks are indexed by the upgrade.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UPGRADE = [
    "CREATE TABLE chunk_keywords (id INTEGER PRIMARY KEY, vector_id VARCHAR(200) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE chunk_fts USING fts5(title, heading, body, "
    "tokenize = 'porter unicode61 remove_diacritics 2')",
    """CREATE TRIGGER chunk_keywords_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunk_keywords (vector_id) VALUES (new.vector_id);
        INSERT INTO chunk_fts (rowid, title, heading, body) VALUES (
            (SELECT id FROM chunk_keywords WHERE vector_id = new.vector_id),
            (SELECT title FROM documents WHERE id = new.document_id), new.heading_path, new.text);
    END""",
    """CREATE TRIGGER chunk_keywords_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunk_fts WHERE rowid = (SELECT id FROM chunk_keywords WHERE vector_id = old.vector_id);
        DELETE FROM chunk_keywords WHERE vector_id = old.vector_id;
    END""",
    """CREATE TRIGGER chunk_keywords_heading AFTER UPDATE OF heading_path ON chunks
        WHEN old.heading_path IS NOT new.heading_path BEGIN
        UPDATE chunk_fts SET heading = new.heading_path
        WHERE rowid = (SELECT id FROM chunk_keywords WHERE vector_id = new.vector_id);
    END""",
    """CREATE TRIGGER chunk_keywords_title AFTER UPDATE OF title ON documents
        WHEN old.title IS NOT new.title BEGIN
        UPDATE chunk_fts SET title = new.title WHERE rowid IN (
            SELECT k.id FROM chunk_keywords k JOIN chunks c ON c.vector_id = k.vector_id
            WHERE c.document_id = new.id);
    END""",
    "INSERT INTO chunk_keywords (vector_id) SELECT vector_id FROM chunks",
    """INSERT INTO chunk_fts (rowid, title, heading, body)
        SELECT k.id, d.title, c.heading_path, c.text FROM chunk_keywords k
        JOIN chunks c ON c.vector_id = k.vector_id JOIN documents d ON d.id = c.document_id""",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER chunk_keywords_title",
    "DROP TRIGGER chunk_keywords_heading",
    "DROP TRIGGER chunk_keywords_delete",
    "DROP TRIGGER chunk_keywords_insert",
    "DROP TABLE chunk_fts",
    "DROP TABLE chunk_keywords",
]

# Every run of characters that is neither a letter nor a digit reads as a space (as SQLite's unicode61 does).
_WORDS = "regexp_replace(coalesce({0}, ''), '[^[:alnum:]]+', ' ', 'g')"
_TERMS = (
    "setweight(to_tsvector('english', " + _WORDS.format("{title}") + "), 'A') || "
    "setweight(to_tsvector('english', " + _WORDS.format("{heading}") + "), 'B') || "
    "setweight(to_tsvector('english', " + _WORDS.format("{body}") + "), 'D')"
)
POSTGRES_UPGRADE = [
    """CREATE TABLE chunk_keywords (
        vector_id VARCHAR(200) PRIMARY KEY REFERENCES chunks (vector_id) ON DELETE CASCADE,
        terms TSVECTOR NOT NULL)""",
    "CREATE INDEX ix_chunk_keywords_terms ON chunk_keywords USING GIN (terms)",
    """CREATE FUNCTION lightfast_chunk_keywords() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO chunk_keywords (vector_id, terms)
        SELECT NEW.vector_id, """
    + _TERMS.format(title="d.title", heading="NEW.heading_path", body="NEW.text")
    + """
        FROM documents d WHERE d.id = NEW.document_id
        ON CONFLICT (vector_id) DO UPDATE SET terms = EXCLUDED.terms;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER chunk_keywords_insert AFTER INSERT ON chunks
        FOR EACH ROW EXECUTE FUNCTION lightfast_chunk_keywords()""",
    """CREATE TRIGGER chunk_keywords_heading AFTER UPDATE OF heading_path ON chunks
        FOR EACH ROW WHEN (OLD.heading_path IS DISTINCT FROM NEW.heading_path)
        EXECUTE FUNCTION lightfast_chunk_keywords()""",
    """CREATE FUNCTION lightfast_document_keywords() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE chunk_keywords k SET terms = """
    + _TERMS.format(title="NEW.title", heading="c.heading_path", body="c.text")
    + """
        FROM chunks c WHERE c.vector_id = k.vector_id AND c.document_id = NEW.id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER chunk_keywords_title AFTER UPDATE OF title ON documents
        FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title) EXECUTE FUNCTION lightfast_document_keywords()""",
    "INSERT INTO chunk_keywords (vector_id, terms) SELECT c.vector_id, "
    + _TERMS.format(title="d.title", heading="c.heading_path", body="c.text")
    + " FROM chunks c JOIN documents d ON d.id = c.document_id",
]
POSTGRES_DOWNGRADE = [
    "DROP TRIGGER chunk_keywords_title ON documents",
    "DROP TRIGGER chunk_keywords_heading ON chunks",
    "DROP TRIGGER chunk_keywords_insert ON chunks",
    "DROP FUNCTION lightfast_document_keywords()",
    "DROP FUNCTION lightfast_chunk_keywords()",
    "DROP TABLE chunk_keywords",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_UPGRADE)
    elif dialect == "postgresql":
        _run(POSTGRES_UPGRADE)
    else:
        raise NotImplementedError(f"no keyword index for {dialect}: the catalog supports SQLite and PostgreSQL")


def downgrade() -> None:
    _run(SQLITE_DOWNGRADE if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWNGRADE)

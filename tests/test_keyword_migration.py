"""Migration 0003 indexes the chunks a catalog already holds, and its triggers follow the ledger on SQLite."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import delete, text, update

from lightfast_pipeline.catalog.db import alembic_config, get_engine, session_scope
from lightfast_pipeline.catalog.keywords import keyword_ids
from lightfast_pipeline.catalog.models import Chunk, Document, Organization, Repository, Store, Workspace
from lightfast_pipeline.search.keyword import keyword_search


def _upgrade(url: str, revision: str) -> None:
    with get_engine(url).begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _chunk(vector_id: str, document_id: int, text_: str) -> Chunk:
    return Chunk(
        vector_id=vector_id,
        document_id=document_id,
        store_id=1,
        repository_id=1,
        chunk_index=0,
        content_hash=vector_id[-4:],
        heading_path="Usage",
        text=text_,
    )


def test_upgrade_indexes_existing_chunks_and_triggers_follow_the_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    _upgrade(url, "0002")  # the revision before the keyword index
    with session_scope(url) as session:
        for row in (
            Organization(id=1, name="Acme", slug="acme"),
            Workspace(id=1, organization_id=1, name="default", slug="default", key="k1"),
            Store(
                id=1,
                workspace_id=1,
                slug="docs",
                embedding_provider="test",
                embedding_model="m",
                embedding_dimension=3,
                chunk_max_tokens=256,
                chunk_overlap=0,
                vector_backend="lancedb",
                namespace="ns",
            ),
            Repository(id=1, uid="r1", workspace_id=1, source_type="local", source_id="s", full_name="docs"),
            Document(
                id=1,
                uid="d1",
                store_id=1,
                repository_id=1,
                path="a.md",
                blob_id="b",
                content_hash="h",
                config_hash="c",
                title="Certificates",
            ),
            _chunk("r1:d1:aaaa", 1, "Certificates\n\nRequests fail with ERR_CERT_INVALID."),
        ):
            session.add(row)
            session.flush()
    _upgrade(url, "head")
    with session_scope(url) as session:
        assert keyword_ids(session, "r1") == {"r1:d1:aaaa"}
        assert [m.vector_id for m in keyword_search(session, "ERR_CERT_INVALID", [1], 5)] == ["r1:d1:aaaa"]
        session.add(_chunk("r1:d1:bbbb", 1, "Certificates\n\nPinning uses the --pin-sha256 flag."))
    with session_scope(url) as session:
        assert keyword_ids(session, "r1") == {"r1:d1:aaaa", "r1:d1:bbbb"}
        # A title change reaches the keyword rows of the document's chunks.
        session.execute(update(Document).where(Document.id == 1).values(title="Transport security"))
    with session_scope(url) as session:
        titles = session.scalars(text("SELECT title FROM chunk_fts")).all()
        assert titles == ["Transport security", "Transport security"]
        session.execute(delete(Chunk).where(Chunk.vector_id == "r1:d1:aaaa"))
    with session_scope(url) as session:
        assert keyword_ids(session, "r1") == {"r1:d1:bbbb"}
        assert keyword_search(session, "ERR_CERT_INVALID", [1], 5) == []
        # Deleting the document cascades to its chunks, and the triggers take their keyword rows with them.
        session.execute(delete(Document).where(Document.id == 1))
    with session_scope(url) as session:
        assert session.scalar(text("SELECT count(*) FROM chunk_fts")) == 0
        assert session.scalar(text("SELECT count(*) FROM chunk_keywords")) == 0

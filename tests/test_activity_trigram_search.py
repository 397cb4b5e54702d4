"""Migration 0008 and the timeline's SQLite text search through it: the same rows as the walk, kept in step."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from dagster import DagsterInstance
from sqlalchemy import delete, event, insert, text, update
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import search
from lightfast_pipeline.activity.timeline import TimelineFilter, iter_timeline, timeline_page
from lightfast_pipeline.catalog.db import alembic_config, get_engine, migrate, session_scope
from lightfast_pipeline.catalog.models import ActivityEvent

FRAGMENTS = (
    "acme/Handbook",
    "beta/100%_docs",
    "ÉLODIE",
    "élodie",
    "Straße",
    "naïve Café",
    'say "hi" twice',
    "a AND b OR NOT c",
    "NEAR(x y)",
    "actor:bob",
    "*star* ^caret",
    "under_score",
    "slash/escape",
    "emoji 🎉 party",
    "\uff26\uff35\uff2c\uff2c width"  # fullwidth FULL,
    "İstanbul",
    "\u212a kelvin",
    "ﬁle ligature",
    "rate limited by GitHub",
    "nul\x00after",  # SQLite's LIKE and FTS5 both read a value up to its NUL
)
SPECIAL_TEXTS = ('"', '""', '"hi"', "%", "%_", "0%_d", "_sc", "h/e", "/es", "AND", "near(", "*st", "^ca", "r:b")
SPECIAL_TEXTS += ("ÉLO", "élo", "Élo", "STRASSE", "straße", "İST", "i̇st", "ist", "k k", "kel", "ﬁle", "file", "🎉 p")
SPECIAL_TEXTS += ("nul\x00", "\x00\xff\x00\xff", "ul\x00af", "aft", "fter")
SPECIAL_TEXTS += ("\uff46\uff55\uff4c\uff4c", "\uff26\uff35\uff2c", "ACME/", "nothing like it", "ab", "é")


def _upgrade(url: str, verb: str, revision: str) -> None:
    with get_engine(url).begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def _row(rng: random.Random, at: datetime) -> dict[str, Any]:
    def pick() -> str | None:
        if rng.random() < 0.2:
            return None
        return " ".join(rng.sample(FRAGMENTS, rng.randint(1, 2)))

    return {
        "at": at,
        "actor": pick() or "system",
        "action": "config.detected",
        "entity_type": "workspace",
        "repository_name": pick(),
        "status": "success",
        "reason": pick(),
        "message": pick(),
        "impact": {},
    }


def _texts(rng: random.Random, count: int) -> list[str]:
    """Substrings of the fragments (1-9 characters, case changed at random) and the special texts."""
    found = list(SPECIAL_TEXTS)
    for _ in range(count):
        fragment = rng.choice(FRAGMENTS)
        start = rng.randrange(len(fragment))
        piece = fragment[start : start + rng.randint(1, 9)]
        found.append(rng.choice((str.lower, str.upper, str.swapcase, str))(piece))
    return found


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    migrate(url)
    return url


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:  # no runs: the timeline's activity side alone
        yield ephemeral


def _ids(session: Session, instance: DagsterInstance, text_: str) -> list[int | str]:
    return [entry.id for entry in iter_timeline(session, instance, TimelineFilter(search=text_), batch_size=40)]


def test_the_trigram_path_returns_the_rows_the_walk_returns(
    catalog_url: str, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(12)
    end = datetime.now(UTC)
    with session_scope(catalog_url) as session:
        session.execute(insert(ActivityEvent), [_row(rng, end - timedelta(seconds=n)) for n in range(400)])
    with session_scope(catalog_url) as session:
        for text_ in _texts(rng, 300):
            through_index = _ids(session, instance, text_)
            indexed = len(text_) >= search.TRIGRAM and "\x00" not in text_
            assert (search.candidates(session, text_) is not None) is indexed, text_
            with monkeypatch.context() as patch:
                patch.setattr(search, "MAX_CANDIDATES", -1)  # every text walks
                assert search.candidates(session, text_) is None
                walked = _ids(session, instance, text_)
            assert through_index == walked, text_


def _activity_statements(catalog_url: str, session: Session, instance: DagsterInstance, text_: str) -> list[str]:
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM activity LEFT OUTER JOIN workspaces" in statement:
            sent.append(statement)

    engine = get_engine(catalog_url)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        timeline_page(session, instance, TimelineFilter(search=text_), limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return sent


def test_common_and_short_texts_keep_the_walk(catalog_url: str, instance: DagsterInstance) -> None:
    end = datetime.now(UTC)
    common = [{**_row(random.Random(n), end), "message": f"handbook {n}"} for n in range(search.MAX_CANDIDATES + 1)]
    with session_scope(catalog_url) as session:
        session.execute(insert(ActivityEvent), [*common, {**_row(random.Random(0), end), "actor": "bench"}])
    with session_scope(catalog_url) as session:
        assert search.candidates(session, "handbook") is None  # more candidates than MAX_CANDIDATES
        assert search.candidates(session, "be") is None  # no trigram
        assert search.candidates(session, "bench") is not None
        for text_, indexed in (("handbook", False), ("be", False), ("bench", True)):
            (statement,) = _activity_statements(catalog_url, session, instance, text_)
            assert ("activity_fts MATCH" in statement) is indexed, text_
        page = timeline_page(session, instance, TimelineFilter(search="HANDBOOK 7"), limit=1000)
        assert sorted(entry.message for entry in page.entries) == sorted(
            row["message"] for row in common if row["message"].startswith("handbook 7")
        )


def _matching(session: Session, text_: str) -> set[int]:
    phrase = search.phrase(text_)
    return set(session.scalars(text("SELECT rowid FROM activity_fts WHERE activity_fts MATCH :p"), {"p": phrase}))


def _integrity(session: Session) -> None:
    """FTS5's check of the index against the activity rows (rank 1: the content table too); raises on drift."""
    session.execute(text("INSERT INTO activity_fts (activity_fts, rank) VALUES ('integrity-check', 1)"))


def test_triggers_keep_the_index_in_step(catalog_url: str) -> None:
    end = datetime.now(UTC)
    plain = {"repository_name": "acme/docs", "reason": "manual", "message": "plain"}
    rows = [{**_row(random.Random(n), end), **plain, "actor": f"user{n}"} for n in range(5)]
    with session_scope(catalog_url) as session:
        session.execute(insert(ActivityEvent), rows)
        ids = sorted(session.scalars(text("SELECT id FROM activity")))
        assert _matching(session, "USER3") == {ids[3]}
        session.execute(update(ActivityEvent).where(ActivityEvent.id == ids[3]).values(actor="carol", status="failure"))
        session.execute(update(ActivityEvent).where(ActivityEvent.id == ids[1]).values(message="rate limited"))
        session.execute(update(ActivityEvent).where(ActivityEvent.id == ids[2]).values(reason=None, message=None))
        session.execute(update(ActivityEvent).where(ActivityEvent.id == ids[4]).values(id=ids[4] + 100))
        _integrity(session)
        assert _matching(session, "user3") == set()
        assert _matching(session, "carol") == {ids[3]}
        assert _matching(session, "limited") == {ids[1]}
        assert _matching(session, "plain") == {ids[0], ids[3], ids[4] + 100}
        assert _matching(session, "user4") == {ids[4] + 100}
        session.execute(delete(ActivityEvent).where(ActivityEvent.id.in_([ids[0], ids[4] + 100])))
        _integrity(session)
        assert _matching(session, "plain") == {ids[3]}
        assert _matching(session, "user") == {ids[1], ids[2]}


def _schema(url: str) -> list[Any]:
    with get_engine(url).connect() as connection:
        return connection.execute(text("SELECT type, name, sql FROM sqlite_master ORDER BY name")).all()


def test_upgrade_indexes_existing_rows_and_downgrade_removes_the_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    _upgrade(url, "upgrade", "0007")
    before = _schema(url)
    end = datetime.now(UTC)
    with session_scope(url) as session:
        rows = [{**_row(random.Random(n), end), "actor": f"user{n:03d}"} for n in range(300)]
        session.execute(insert(ActivityEvent), rows)
    _upgrade(url, "upgrade", "0008")
    names = {name for _, name, _ in _schema(url)}
    assert names >= search.ACTIVITY_SEARCH_TABLES
    assert {"activity_fts_insert", "activity_fts_update", "activity_fts_delete"} <= names
    with session_scope(url) as session:
        _integrity(session)
        assert len(_matching(session, "USER1")) == 100  # user100 … user199
        assert search.candidates(session, "user123") is not None
    _upgrade(url, "downgrade", "0007")
    assert _schema(url) == before
    with session_scope(url) as session:
        session.add(ActivityEvent(action="config.detected", entity_type="workspace", actor="after"))
        session.flush()  # no trigger left writing to a dropped table
        assert search.candidates(session, "after") is None
    _upgrade(url, "upgrade", "head")
    with session_scope(url) as session:
        assert _matching(session, "after") == {301}

"""Engine and session handling for the catalog (SQLite by default, any SQLAlchemy URL)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config  # Alembic is imported only when the schema is behind (~0.15 s)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "lightfast_catalog_version"  # not "alembic_version": the catalog may share Dagster's database


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside one writer; busy_timeout makes concurrent run processes wait, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@cache
def get_engine(url: str) -> Engine:
    """One engine per URL and process."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at this package's migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_MIGRATED: set[str] = set()


def head_revisions() -> frozenset[str] | None:
    """The newest migrations, read from the version files without importing Alembic (None if unreadable)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and node.value:
                values[target.id] = ast.literal_eval(node.value)
        revision, down = values.get("revision"), values.get("down_revision", ...)
        if not isinstance(revision, str) or down is ...:
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else list(down or ()))
    return frozenset(revisions - parents)


def _current_revisions(engine: Engine) -> frozenset[str]:
    if not inspect(engine).has_table(VERSION_TABLE):
        return frozenset()
    with engine.connect() as connection:
        return frozenset(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def migrate(url: str) -> None:
    """Bring the catalog schema to the newest migration (idempotent; once per process and URL).

    A catalog already at the newest migration is only checked (one query): Alembic runs when it is behind.
    """
    if url in _MIGRATED:
        return
    engine = get_engine(url)
    heads = head_revisions()
    if heads is None or _current_revisions(engine) != heads:
        from alembic import command

        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    _MIGRATED.add(url)


def is_migrated(url: str) -> bool:
    """True when the catalog has its Alembic version table."""
    return inspect(get_engine(url)).has_table(VERSION_TABLE)


@cache
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = _session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Engine and session handling for the catalog (SQLite by default, any SQLAlchemy URL)."""

from __future__ import annotations

import ast
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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


# Two processes started together on a fresh state (the embedding service and a CLI command, two run workers)
# must not both create the tables: migrations run one process at a time, under a lock that the database or the
# OS releases when its holder dies. PostgreSQL: a transaction-scoped advisory lock; SQLite: flock on a file
# beside the database. Whoever waits then finds the schema at head and changes nothing.
_MIGRATION_LOCK_KEY = 0x1F4A_C47A  # pg_advisory_xact_lock key: any constant unique to this application


@contextmanager
def _sqlite_migration_lock(url: str) -> Iterator[None]:
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        yield
        return
    lock_path = Path(f"{path}.migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(url: str) -> None:
    """Bring the catalog schema to the newest migration (idempotent; once per process and URL; serialised).

    A catalog already at the newest migration is only checked (one query): Alembic runs when it is behind.
    """
    if url in _MIGRATED:
        return
    engine = get_engine(url)
    heads = head_revisions()
    if heads is None or _current_revisions(engine) != heads:
        from alembic import command

        is_sqlite = url.startswith("sqlite")
        with _sqlite_migration_lock(url) if is_sqlite else nullcontext(), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
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

"""The one place the environment is read.

Every other module receives a :class:`Settings` (or the value it needs) instead of reading ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one process."""

    home: Path
    database_url: str
    dagster_home: Path
    embedder: str
    embedding_model: str
    vector_backend: str
    lancedb_uri: str
    user: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def warehouse_path(self) -> Path:
        """DuckDB file analysts read (written by the warehouse asset only)."""
        return self.home / "warehouse.duckdb"


DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def load_settings() -> Settings:
    """Read the environment once and derive every path from ``LIGHTFAST_HOME``."""
    home = Path(_env("LIGHTFAST_HOME", "./.lightfast")).expanduser().resolve()
    database_url = _env("LIGHTFAST_DATABASE_URL") or f"sqlite:///{home / 'catalog.db'}"
    dagster_home = Path(_env("DAGSTER_HOME") or str(home / "dagster")).expanduser().resolve()
    return Settings(
        home=home,
        database_url=database_url,
        dagster_home=dagster_home,
        embedder=_env("LIGHTFAST_EMBEDDER", "local"),
        embedding_model=_env("LIGHTFAST_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL),
        vector_backend=_env("LIGHTFAST_VECTOR_BACKEND", "lancedb"),
        lancedb_uri=_env("LIGHTFAST_LANCEDB_URI") or str(home / "vectors"),
        user=_env("LIGHTFAST_USER") or _env("USER") or "unknown",
    )


def ensure_home(settings: Settings) -> None:
    """Create the state directories and point Dagster at its instance directory."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))

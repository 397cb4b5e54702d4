"""The one place the environment is read.

Every other module receives a :class:`Settings` (or the value it needs) instead of reading ``os.environ``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_SOCKET_PATH_BYTES = 100  # sun_path holds 108 bytes; keep a margin


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
    code_location: str = "lightfast_pipeline"

    @property
    def embedder_socket(self) -> Path:
        """Unix socket of the warm embedding service (``lightfast embedder serve``).

        ``embedder.sock`` in the home; a home too deep for a Unix socket path (108 bytes at most) gets one in
        a per-user directory of the temporary directory, named after the home.
        """
        path = self.home / "embedder.sock"
        if len(os.fsencode(path)) < MAX_SOCKET_PATH_BYTES:
            return path
        digest = hashlib.sha256(os.fsencode(self.home)).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"lightfast-{os.getuid()}" / f"embedder-{digest}.sock"

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
        code_location=_env("LIGHTFAST_CODE_LOCATION", "lightfast_pipeline"),
    )


def ensure_home(settings: Settings) -> None:
    """Create the state directories and point Dagster at its instance directory."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_config = settings.dagster_home / "dagster.yaml"
    if not instance_config.exists():
        instance_config.write_text((Path(__file__).parent / "embedded_dagster.yaml").read_text())
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))


@dataclass(frozen=True)
class CohereSettings:
    """Cohere credentials and model (the key is kept out of ``repr``)."""

    api_key: str | None = field(repr=False)
    base_url: str | None
    model: str


def load_cohere_settings() -> CohereSettings:
    """``COHERE_API_KEY``, ``COHERE_BASE_URL`` and ``LIGHTFAST_COHERE_MODEL`` (default embed-english-v3.0)."""
    return CohereSettings(
        api_key=_env("COHERE_API_KEY"),
        base_url=_env("COHERE_BASE_URL"),
        model=_env("LIGHTFAST_COHERE_MODEL", "embed-english-v3.0"),
    )


@dataclass(frozen=True)
class PineconeSettings:
    """Pinecone credentials and the data-plane host of the index (the key is kept out of ``repr``)."""

    api_key: str | None = field(repr=False)
    index_host: str | None
    consistency_seconds: float = 30.0


def load_pinecone_settings() -> PineconeSettings:
    """``PINECONE_API_KEY``, ``PINECONE_INDEX_HOST`` and ``LIGHTFAST_PINECONE_CONSISTENCY_SECONDS`` (how long
    reads that correctness depends on wait for writes to show, default 30)."""
    return PineconeSettings(
        api_key=_env("PINECONE_API_KEY"),
        index_host=_env("PINECONE_INDEX_HOST"),
        consistency_seconds=float(_env("LIGHTFAST_PINECONE_CONSISTENCY_SECONDS", "30") or 30),
    )


@dataclass(frozen=True)
class GitHubSettings:
    """GitHub App credentials, webhook secrets and API base URL (secrets are kept out of ``repr``)."""

    app_id: str | None
    private_key: str | None = field(repr=False)
    private_key_path: str | None
    webhook_secrets: tuple[str, ...] = field(repr=False)
    api_url: str
    rate_limit_max_wait: float


def load_github_settings() -> GitHubSettings:
    """``GITHUB_APP_ID``, ``GITHUB_APP_PRIVATE_KEY`` or ``GITHUB_APP_PRIVATE_KEY_PATH``, ``GITHUB_WEBHOOK_SECRET``
    (+ ``GITHUB_WEBHOOK_SECRET_PREVIOUS`` during rotation), ``GITHUB_API_URL`` (GitHub Enterprise: .../api/v3)
    and ``LIGHTFAST_GITHUB_RATE_LIMIT_MAX_WAIT`` (seconds a rate-limited call may wait, default 60)."""
    secrets = tuple(s for s in (_env("GITHUB_WEBHOOK_SECRET"), _env("GITHUB_WEBHOOK_SECRET_PREVIOUS")) if s)
    return GitHubSettings(
        app_id=_env("GITHUB_APP_ID"),
        private_key=_env("GITHUB_APP_PRIVATE_KEY"),
        private_key_path=_env("GITHUB_APP_PRIVATE_KEY_PATH"),
        webhook_secrets=secrets,
        api_url=(_env("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        rate_limit_max_wait=float(_env("LIGHTFAST_GITHUB_RATE_LIMIT_MAX_WAIT", "60") or 60),
    )


@dataclass(frozen=True)
class NotifySettings:
    """Where failure notifications go (the webhook URL embeds a token: kept out of ``repr``, never logged)."""

    webhook_url: str | None = field(repr=False)
    dagster_ui_url: str


def load_notify_settings() -> NotifySettings:
    """``LIGHTFAST_NOTIFY_WEBHOOK_URL`` (unset: no notifications) and ``LIGHTFAST_DAGSTER_UI_URL``."""
    return NotifySettings(
        webhook_url=_env("LIGHTFAST_NOTIFY_WEBHOOK_URL"),
        dagster_ui_url=(_env("LIGHTFAST_DAGSTER_UI_URL") or "http://127.0.0.1:3000").rstrip("/"),
    )


@dataclass(frozen=True)
class ApiSettings:
    """`lightfast serve` options shared with its worker processes (the command sets them from its flags)."""

    allow_local_paths: bool
    rate_per_minute: int
    rate_burst: int


def load_api_settings() -> ApiSettings:
    """``LIGHTFAST_API_ALLOW_LOCAL_PATHS`` (1/0), ``LIGHTFAST_API_RATE_LIMIT`` and ``LIGHTFAST_API_BURST``."""
    return ApiSettings(
        allow_local_paths=_env("LIGHTFAST_API_ALLOW_LOCAL_PATHS", "0") == "1",
        rate_per_minute=int(_env("LIGHTFAST_API_RATE_LIMIT", "600") or 600),
        rate_burst=int(_env("LIGHTFAST_API_BURST", "120") or 120),
    )


DEFAULT_INGEST_BATCH = 300
"""Documents read, chunked, embedded and committed together (``LIGHTFAST_INGEST_BATCH``)."""


@dataclass(frozen=True)
class IngestSettings:
    """How a run is cut into batches, and the fault point a test asked for (``None`` in production)."""

    batch_documents: int
    fault: str | None


def load_ingest_settings() -> IngestSettings:
    """``LIGHTFAST_INGEST_BATCH`` (documents per committed batch, default 300) and ``LIGHTFAST_FAULT``
    (e.g. ``after:upsert`` or ``before:commit:batch=2``: the process kills itself there; unset: off)."""
    batch = int(_env("LIGHTFAST_INGEST_BATCH", str(DEFAULT_INGEST_BATCH)) or DEFAULT_INGEST_BATCH)
    if batch < 1:
        raise ValueError(f"LIGHTFAST_INGEST_BATCH must be at least 1, not {batch}")
    return IngestSettings(batch_documents=batch, fault=_env("LIGHTFAST_FAULT"))


@dataclass(frozen=True)
class ProjectSettings:
    """Everything one process is configured with, read at once: the one object Dagster's resources are built
    from (``resources/__init__.py``)."""

    core: Settings
    cohere: CohereSettings
    pinecone: PineconeSettings
    github: GitHubSettings
    notify: NotifySettings


def load_project_settings() -> ProjectSettings:
    """The process settings and every provider's settings, from the environment."""
    return ProjectSettings(
        core=load_settings(),
        cohere=load_cohere_settings(),
        pinecone=load_pinecone_settings(),
        github=load_github_settings(),
        notify=load_notify_settings(),
    )

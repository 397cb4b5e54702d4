"""SQLAlchemy 2 models of the catalog: the system of record.

Schema changes go through Alembic (``catalog/migrations``); ``tests/test_catalog.py`` fails when
these models and the migrations disagree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now in UTC (every timestamp in the catalog is UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware DateTime; SQLite drops the zone, so values are re-tagged (and stored) as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class ConfigStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIGURED = "configured"
    UNCONFIGURED = "unconfigured"
    INGESTING = "ingesting"
    ERROR = "error"


class SourceType(enum.StrEnum):
    GITHUB = "github"
    LOCAL = "local"


class DeliveryStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    SKIPPED = "skipped"
    FAILED = "failed"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    workspaces: Mapped[list[Workspace]] = relationship(back_populates="organization")


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_workspaces_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="workspaces")
    repositories: Mapped[list[Repository]] = relationship(back_populates="workspace")
    stores: Mapped[list[Store]] = relationship(back_populates="workspace")


class Integration(Base):
    """A GitHub App installation (or, later, another provider's grant)."""

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_integrations_provider_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), default="github")
    external_id: Mapped[str] = mapped_column(String(64))
    account_login: Mapped[str | None] = mapped_column(String(200))
    account_type: Mapped[str | None] = mapped_column(String(40))
    repository_selection: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | suspended | deleted
    suspended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Repository(Base):
    """A connected repository: identity is (source_type, source_id), never its name."""

    __tablename__ = "repositories"
    __table_args__ = (UniqueConstraint("workspace_id", "source_type", "source_id", name="uq_repositories_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    source_type: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(300))
    location: Mapped[str | None] = mapped_column(Text)  # local path, or API URL for GitHub
    installation_id: Mapped[str | None] = mapped_column(String(64))
    default_branch: Mapped[str | None] = mapped_column(String(255))
    config_status: Mapped[str] = mapped_column(String(20), default=ConfigStatus.PENDING.value)
    config_path: Mapped[str | None] = mapped_column(String(100))
    config_detected_at: Mapped[datetime | None]
    config_error: Mapped[str | None] = mapped_column(Text)
    config_commit: Mapped[str | None] = mapped_column(String(64))  # where config_status was last detected
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    last_synced_at: Mapped[datetime | None]
    last_ingested_at: Mapped[datetime | None]
    last_ingested_commit: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    private: Mapped[bool | None] = mapped_column(Boolean)
    connected_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    disconnected_at: Mapped[datetime | None]

    workspace: Mapped[Workspace] = relationship(back_populates="repositories")
    store: Mapped[Store | None] = relationship()

    @property
    def partition_key(self) -> str:
        """Dagster partition of this repository (stable: the catalog uid)."""
        return self.uid


class Store(Base):
    """A vector namespace of one workspace, with the embedding and chunking settings that built it."""

    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("workspace_id", "slug", name="uq_stores_workspace_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    slug: Mapped[str] = mapped_column(String(20))
    embedding_provider: Mapped[str] = mapped_column(String(40))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dimension: Mapped[int] = mapped_column(Integer)
    chunk_max_tokens: Mapped[int] = mapped_column(Integer)
    chunk_overlap: Mapped[int] = mapped_column(Integer)
    vector_backend: Mapped[str] = mapped_column(String(20))
    namespace: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    workspace: Mapped[Workspace] = relationship(back_populates="stores")


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("store_id", "repository_id", "path", name="uq_documents_store_repo_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    blob_id: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    config_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    frontmatter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    parent_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    relationships: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    commit: Mapped[str | None] = mapped_column(String(64))
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    chunks: Mapped[list[Chunk]] = relationship(back_populates="document", cascade="all, delete-orphan")


class Chunk(Base):
    """The chunk ledger: one row per vector id in the store."""

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_store_content", "store_id", "content_hash"),)

    vector_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    heading_path: Mapped[str] = mapped_column(Text, default="")
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)

    document: Mapped[Document] = relationship(back_populates="chunks")


class SkippedEntry(Base):
    """A tree entry that matched the config but was not indexed, with why (kept so it is not re-read)."""

    __tablename__ = "skipped_entries"
    __table_args__ = (UniqueConstraint("repository_id", "path", name="uq_skipped_entries_repo_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    path: Mapped[str] = mapped_column(String(1024))
    blob_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestJournal(Base):
    """Vector ids (by namespace) a run is about to write or delete; cleared after the commit point.

    A run that dies between its store writes and its catalog commit leaves this row behind; the next run
    deletes every journaled id the ledger does not own.
    """

    __tablename__ = "ingest_journal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    vector_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # namespace -> [vector id]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RepositoryLease(Base):
    """One writer per repository: the run holding the lease; stale once that run is no longer alive
    (finished in the Dagster instance, or its process gone from this host)."""

    __tablename__ = "repository_leases"

    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One received webhook delivery (ingestion event), stored before anything else happens."""

    __tablename__ = "webhook_deliveries"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(60))
    action: Mapped[str | None] = mapped_column(String(60))
    github_repository_id: Mapped[str | None] = mapped_column(String(64), index=True)
    repository_full_name: Mapped[str | None] = mapped_column(String(300))
    installation_id: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.RECEIVED.value, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    processed_at: Mapped[datetime | None]
    # The run requests the sensor returned for this delivery ({run_key, partition_key, tags}), kept until the
    # daemon has created their runs: a tick whose result the daemon drops (timeout, code server restart) is
    # detected and its requests made again (github/deliveries.py).
    requested_runs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))  # None: SQL NULL


class ActivityEvent(Base):
    """The activity log: every user and system action, recorded once."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_at_id", "at", "id"),
        Index("ix_activity_workspace_at_id", "workspace_id", "at", "id"),  # one workspace's timeline, in order
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    action: Mapped[str] = mapped_column(String(80), index=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(200))
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id"), index=True)
    source_type: Mapped[str | None] = mapped_column(String(20))
    repository_id: Mapped[int | None] = mapped_column(Integer)
    repository_name: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="success")
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(100))


class MetricPoint(Base):
    """One measured value, written where it happens (warehoused into DuckDB later)."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_type_at", "type", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    workspace_id: Mapped[int | None] = mapped_column(Integer)
    repository_id: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(60))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NotificationSent(Base):
    """Deduplication of outgoing notifications (one per run failure or health transition)."""

    __tablename__ = "notifications_sent"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="sent")
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    """An API key of one workspace: only its SHA-256 is stored; ``prefix`` finds the row without the secret."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))  # read | admin
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    workspace: Mapped[Workspace] = relationship()


class InstallationRepository(Base):
    """A repository a GitHub App installation could see at its last validation (for added/removed counts)."""

    __tablename__ = "installation_repositories"
    __table_args__ = (
        UniqueConstraint("installation_id", "github_repository_id", name="uq_installation_repositories_repo"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[str] = mapped_column(String(64), index=True)
    github_repository_id: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(300))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

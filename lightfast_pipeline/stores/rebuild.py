"""Listing stores and rebuilding one with the configured embedder (after a model or dimension change).

A rebuild takes the one-writer lease of every repository with content in the store (refusing, with nothing changed,
when a run holds one), repairs what crashed runs left, drops the store's namespace and, once the namespace reads
empty, in one catalog transaction empties the store's ledger, switches the store to the configured embedder and
records ``store.rebuilt``. The namespace is dropped first: a crash before the catalog commit leaves the old ledger
over an empty namespace (`lightfast repo verify` reports it), which running the rebuild again completes. The caller
then runs a full ingestion of each repository returned in :attr:`Rebuild.to_ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import Chunk, Document, Repository, Store, Workspace
from lightfast_pipeline.ingestion import faults
from lightfast_pipeline.ingestion.lease import LeaseTimeout, acquire_lease, maintenance_holder, release_lease
from lightfast_pipeline.ingestion.repair import repair_from_journal
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.stores.store import CHUNK_OVERLAP_TOKENS, StoreError, chunk_max_tokens_for
from lightfast_pipeline.vectorstores.consistency import read_settled
from lightfast_pipeline.workspaces.workspace import find_workspace, list_workspaces


@dataclass(frozen=True)
class Rebuild:
    """What a rebuild changed, and which repositories must now be ingested in full."""

    store_id: int
    before: dict[str, object]
    after: dict[str, object]
    documents_removed: int
    vectors_removed: int
    to_ingest: dict[int, str] = field(default_factory=dict)  # repository id -> name (active, not archived/suspended)
    not_ingested: dict[str, str] = field(default_factory=dict)  # repository name -> why it is not re-ingested


def _settings(store: Store) -> dict[str, object]:
    return {
        "provider": store.embedding_provider,
        "model": store.embedding_model,
        "dimension": store.embedding_dimension,
        "chunk_max_tokens": store.chunk_max_tokens,
        "chunk_overlap": store.chunk_overlap,
    }


def find_store(session: Session, workspace_ref: str, slug: str) -> Store:
    """The store ``slug`` of a workspace (id, slug or name); a WorkspaceError or StoreError names what is missing."""
    workspace = find_workspace(session, workspace_ref)
    store = session.scalar(select(Store).where(Store.workspace_id == workspace.id, Store.slug == slug))
    if store is None:
        raise StoreError(f"no store {slug!r} in workspace {workspace.slug!r} (see `lightfast store list`)")
    return store


def list_stores(runtime: Runtime, workspace_ref: str | None = None) -> list[dict[str, object]]:
    """Every store (or one workspace's) with its settings, catalog counts and the vector store's count."""
    with runtime.session() as session:
        workspaces = [find_workspace(session, workspace_ref)] if workspace_ref else list_workspaces(session)
        rows: list[dict[str, object]] = []
        for workspace in workspaces:
            for store in session.scalars(select(Store).where(Store.workspace_id == workspace.id).order_by(Store.slug)):
                rows.append(
                    {
                        "slug": store.slug,
                        "workspace": workspace.slug,
                        "model": store.embedding_model,
                        "dimension": store.embedding_dimension,
                        "backend": store.vector_backend,
                        "namespace": store.namespace,
                        "documents": session.scalar(select(func.count()).where(Document.store_id == store.id)),
                        "chunks": session.scalar(select(func.count()).where(Chunk.store_id == store.id)),
                    }
                )
    for row in rows:
        row["vectors"] = runtime.vector_store.count(str(row["namespace"]))
    return rows


def _not_syncable(repository: Repository) -> str | None:
    """Why a repository cannot be ingested now (None when it can)."""
    if not repository.active:
        return "disconnected"
    if repository.archived:
        return "archived"
    return "suspended" if repository.suspended else None


def _run_alive(runtime: Runtime):
    def alive(run_id: str) -> bool:
        run = runtime.instance.get_run_by_id(run_id)
        return run is not None and not run.is_finished

    return alive


def _take_leases(runtime: Runtime, repositories: dict[int, str], holder: str) -> None:
    """Take every lease without waiting; on the first one held, give back the others and raise StoreError."""
    taken: list[int] = []
    for repository_id, name in repositories.items():
        try:
            acquire_lease(runtime, repository_id, holder, _run_alive(runtime), wait_seconds=0)
        except LeaseTimeout as error:
            for done in taken:
                release_lease(runtime, done, holder)
            raise StoreError(f"cannot rebuild: {name}: {error}") from error
        taken.append(repository_id)


def _drop_namespace(runtime: Runtime, store_id: int, namespace: str) -> int:
    """Drop the store's namespace and wait (within the store's consistency window) until it reads empty, so the
    catalog never records an empty store over vectors still showing; returns the vectors it held.

    The count before is read until it equals the ledger's (the last writes may not show yet)."""
    store, window = runtime.vector_store, runtime.vector_store.consistency_seconds
    with runtime.session() as session:
        ledger = session.scalar(select(func.count()).where(Chunk.store_id == store_id)) or 0
    vectors = read_settled(lambda: store.count(namespace), lambda count: count == ledger, window)
    store.drop_namespace(namespace)
    left = read_settled(lambda: store.count(namespace), lambda count: count == 0, window)
    if left:
        raise StoreError(f"the vector store still shows {left} vectors in {namespace!r} after dropping it")
    return vectors


def rebuild_store(runtime: Runtime, workspace_ref: str, slug: str, *, actor: str) -> Rebuild:
    """Empty the store's namespace and ledger and switch it to the configured embedder (see module doc)."""
    embedder = runtime.embedder
    with runtime.session() as session:
        store = find_store(session, workspace_ref, slug)
        store_id, namespace = store.id, store.namespace
        with_content = select(Document.repository_id).where(Document.store_id == store_id)
        repositories = {
            repository.id: repository.full_name
            for repository in session.scalars(
                select(Repository)
                .where(or_(Repository.store_id == store_id, Repository.id.in_(with_content)))
                .order_by(Repository.id)
            )
        }
    fixed = runtime.vector_store.fixed_dimension()
    if fixed is not None and fixed != embedder.dimension:  # checked before anything is deleted
        raise StoreError(
            f"cannot rebuild: the {runtime.vector_store.backend} index holds {fixed}-dimensional vectors and "
            f"{embedder.model} makes {embedder.dimension}; create an index of {embedder.dimension} dimensions "
            "and point the store at it"
        )
    holder = maintenance_holder(f"store-rebuild-{store_id}")
    _take_leases(runtime, repositories, holder)
    try:
        for repository_id in repositories:
            repair_from_journal(runtime, repository_id)
        vectors = _drop_namespace(runtime, store_id, namespace)
        faults.reached("after", "rebuild-drop")
        with runtime.session() as session:
            store = session.get(Store, store_id)
            assert store is not None
            before = _settings(store)
            documents = session.scalar(select(func.count()).where(Document.store_id == store_id)) or 0
            session.execute(delete(Chunk).where(Chunk.store_id == store_id))
            session.execute(delete(Document).where(Document.store_id == store_id))
            store.embedding_provider = embedder.provider
            store.embedding_model = embedder.model
            store.embedding_dimension = embedder.dimension
            store.chunk_max_tokens = chunk_max_tokens_for(embedder)
            store.chunk_overlap = CHUNK_OVERLAP_TOKENS
            after = _settings(store)
            to_ingest: dict[int, str] = {}
            not_ingested: dict[str, str] = {}
            for repository in session.scalars(select(Repository).where(Repository.id.in_(repositories))):
                repository.document_count = session.scalar(
                    select(func.count()).where(Document.repository_id == repository.id)
                )
                repository.chunk_count = session.scalar(
                    select(func.count()).where(Chunk.repository_id == repository.id)
                )
                repository.last_ingested_commit = None  # nothing ingested into this store any more
                reason = _not_syncable(repository)
                if reason is None:
                    to_ingest[repository.id] = repository.full_name
                else:
                    not_ingested[repository.full_name] = reason
            workspace = session.get(Workspace, store.workspace_id)
            assert workspace is not None
            record_activity(
                session,
                action=actions.STORE_REBUILT,
                entity_type="store",
                entity_id=store_id,
                actor=actor,
                workspace_id=workspace.id,
                reason=f"store {store.slug!r} rebuilt for {embedder.model}",
                impact={"documents": documents, "vectors": vectors, "repositories": len(repositories)},
                before=before,
                after=after,
            )
    finally:
        for repository_id in repositories:
            release_lease(runtime, repository_id, holder)
    return Rebuild(
        store_id=store_id,
        before=before,
        after=after,
        documents_removed=documents,
        vectors_removed=vectors,
        to_ingest=dict(sorted(to_ingest.items())),
        not_ingested=not_ingested,
    )

"""Stores: a workspace's vector namespace plus the embedding and chunking settings that built it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import Store, Workspace
from lightfast_pipeline.embedders.base import Embedder
from lightfast_pipeline.index.hashing import stable_hash
from lightfast_pipeline.vectorstores.base import VectorStore

CHUNK_OVERLAP_TOKENS = 32
DELETE_BATCH = 1000


class StoreError(Exception):
    """A user-facing store problem (e.g. the embedder no longer matches the store)."""


def chunk_max_tokens_for(embedder: Embedder) -> int:
    """Chunks fill the model's whole input (256 tokens for MiniLM): nothing is ever truncated."""
    return min(embedder.max_input_tokens, 512)


def ensure_store(
    session: Session,
    workspace: Workspace,
    slug: str,
    embedder: Embedder,
    backend: str,
    *,
    actor: str = "system",
) -> Store:
    """The workspace's store ``slug``, created idempotently; an embedder change is an error, not a mix."""
    store = session.scalar(select(Store).where(Store.workspace_id == workspace.id, Store.slug == slug))
    if store is None:
        store = Store(
            workspace_id=workspace.id,
            slug=slug,
            embedding_provider=embedder.provider,
            embedding_model=embedder.model,
            embedding_dimension=embedder.dimension,
            chunk_max_tokens=chunk_max_tokens_for(embedder),
            chunk_overlap=CHUNK_OVERLAP_TOKENS,
            vector_backend=backend,
            namespace=f"{workspace.key}-{slug}",
        )
        session.add(store)
        session.flush()
        record_activity(
            session,
            action=actions.STORE_CREATED,
            entity_type="store",
            entity_id=store.id,
            actor=actor,
            workspace_id=workspace.id,
            after={
                "slug": slug,
                "model": embedder.model,
                "dimension": embedder.dimension,
                "backend": backend,
            },
        )
        return store
    if (store.embedding_model, store.embedding_dimension) != (embedder.model, embedder.dimension):
        raise StoreError(
            f"store {slug!r} of workspace {workspace.name!r} holds {store.embedding_model} vectors "
            f"({store.embedding_dimension} dims) but the configured embedder is {embedder.model} "
            f"({embedder.dimension} dims); use a new store slug in lightfast.yml, the same model, or "
            f"`lightfast store rebuild {slug} --workspace {workspace.slug}`"
        )
    return store


def chunking_fingerprint(store: Store) -> str:
    """Hash of everything that changes how a document is chunked in this store."""
    return stable_hash(store.embedding_model, str(store.chunk_max_tokens), str(store.chunk_overlap), "chunker-v1")


def delete_vectors(vector_store: VectorStore, namespace: str, vector_ids: Sequence[str]) -> None:
    """Delete ids in batches (unknown ids are ignored by every backend)."""
    ids = list(dict.fromkeys(vector_ids))
    for start in range(0, len(ids), DELETE_BATCH):
        vector_store.delete(namespace, ids[start : start + DELETE_BATCH])

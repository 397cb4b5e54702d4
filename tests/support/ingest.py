"""Run the real ingestion job (in-process, on the test's Dagster instance) and read what it reported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from lightfast_pipeline.catalog.models import Document, Repository, SourceType
from lightfast_pipeline.ingestion.verify import index_truth
from lightfast_pipeline.resources.embedder import EmbedderResource
from lightfast_pipeline.resources.vector_store import VectorStoreResource
from lightfast_pipeline.runs.launch import ingestion_tags, run_in_process
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.factory import source_for
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository
from tests.support.resources import ingestion_resources


def connect_local(runtime: Runtime, path: Path) -> Repository:
    """Connect the local git repository at ``path`` to the default workspace, as user ``tester``."""
    return connect_repository(
        runtime,
        workspace_name=None,
        source=LocalGitSource(path),
        source_type=SourceType.LOCAL.value,
        location=str(path),
        actor="tester",
    )


@dataclass
class Outcome:
    run_id: str
    status: str
    error: str | None
    commit: str | None
    documents: dict[str, int]
    chunks: dict[str, int]
    blobs_read: int
    batches: int


def ingest(
    runtime: Runtime,
    repository_id: int,
    *,
    full: bool = False,
    trigger: str = "manual",
    embedder: EmbedderResource | None = None,
    vector_store: VectorStoreResource | None = None,
) -> Outcome:
    """Ingest one repository with the real job, on the test's resources (the hashing embedder and LanceDB in the
    test's home unless ``embedder``/``vector_store`` are given), and return the run's summary."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        run_tags = ingestion_tags(
            trigger=trigger,
            user="tester",
            workspace_slug=repository.workspace.slug,
            repository_uid=repository.uid,
            repository_name=repository.full_name,
            full=full,
        )
    result = run_in_process(runtime.instance, run_tags, ingestion_resources(runtime.settings, embedder, vector_store))
    return Outcome(
        run_id=result.run_id,
        status=result.status,
        error=result.error,
        commit=result.report.get("commit"),
        documents=result.report.get("documents", {}),
        chunks=result.report.get("chunks", {}),
        blobs_read=result.blobs_read,
        batches=result.report.get("batches", 0),
    )


def assert_store_equals_ledger(runtime: Runtime, repository_id: int) -> int:
    """The store holds exactly the ledger's ids, which are exactly the chunks the source yields at the ingested
    commit (every document read and chunked again); the run's own check (only differing documents read) agrees.
    Returns how many."""
    with runtime.session() as session:
        source = source_for(session.get(Repository, repository_id), runtime.settings)
    truth = index_truth(runtime, repository_id, source, deep=True)
    assert truth.ok, truth.describe()
    quick = index_truth(runtime, repository_id, source)
    assert quick.ok and quick.expected == truth.expected, quick.describe()
    return truth.ledger


def document_paths(runtime: Runtime, repository_id: int) -> dict[str, int]:
    """path -> chunk count of every indexed document of the repository."""
    with runtime.session() as session:
        rows = session.execute(
            select(Document.path, Document.chunk_count).where(Document.repository_id == repository_id)
        ).all()
    return dict(rows)

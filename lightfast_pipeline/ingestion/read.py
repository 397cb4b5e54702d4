"""Stage 1: find the head, detect the config, plan the tree against the catalog (ids only); then read the
changed blobs one batch at a time."""

from __future__ import annotations

import time

from sqlalchemy import select

from lightfast_pipeline.catalog.models import ConfigStatus, Document, Repository, SkippedEntry, Store
from lightfast_pipeline.config.detect import detect_config
from lightfast_pipeline.index.filters import decode_text, document_kind
from lightfast_pipeline.index.hashing import content_hash
from lightfast_pipeline.index.parse import parse_document
from lightfast_pipeline.ingestion.reads import PlannedRead
from lightfast_pipeline.ingestion.stages import DocumentsStage, ParsedFile, RunPlan
from lightfast_pipeline.ingestion.tree_plan import plan_tree_into
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import Source
from lightfast_pipeline.stores.store import chunking_fingerprint, ensure_store
from lightfast_pipeline.workspaces.repositories import apply_config_detection, new_uid


class ConfigInvalid(Exception):
    """``lightfast.yml`` is invalid: nothing is changed in the index until it is fixed."""


def _unchanged_head(runtime: Runtime, repository_id: int, commit: str, run_id: str) -> RunPlan | None:
    """The plan of a run whose head is the last ingested commit, or None when the tree must be read.

    A commit is recorded as ingested only by the catalog transaction that committed its final batch, and its
    tree and ``lightfast.yml`` cannot change: every document is unchanged, no source call is needed. The tree is
    read anyway when the configured embedder is not the store's (the normal path reports that error).
    """
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        store = session.get(Store, repository.store_id) if repository.store_id else None
        if (
            commit != repository.last_ingested_commit
            or repository.config_status != ConfigStatus.CONFIGURED.value
            or store is None
            or store.embedding_model != runtime.embedder.model
        ):
            return None
        skipped = session.execute(
            select(SkippedEntry.path, SkippedEntry.blob_id, SkippedEntry.reason).where(
                SkippedEntry.repository_id == repository_id
            )
        ).all()
        return RunPlan(
            repository_id=repository_id,
            repository_uid=repository.uid,
            run_id=run_id,
            commit=commit,
            store_id=store.id,
            config_hash=chunking_fingerprint(store),
            config_status=ConfigStatus.CONFIGURED.value,
            max_file_bytes=None,
            unchanged=repository.document_count,
            skipped={path: (blob_id, reason) for path, blob_id, reason in skipped},
            head_unchanged=True,
        )


def plan_documents(
    runtime: Runtime,
    repository_id: int,
    source: Source,
    *,
    run_id: str,
    full: bool = False,
    actor: str = "system",
) -> RunPlan:
    """Plan this run from ids only (no blob is read): what was added, changed, renamed, deleted or skipped."""
    started = time.perf_counter()
    commit = source.head_commit()
    if not full and (unchanged := _unchanged_head(runtime, repository_id, commit, run_id)) is not None:
        unchanged.api_calls = source.api_calls
        unchanged.seconds_plan = time.perf_counter() - started
        return unchanged
    detection = detect_config(lambda path: source.read_file(commit, path))
    if detection.status == ConfigStatus.ERROR:
        with runtime.session() as session:
            repository = session.get(Repository, repository_id)
            assert repository is not None
            apply_config_detection(session, repository, detection, actor=actor, run_id=run_id, commit=commit)
        raise ConfigInvalid(f"{detection.path}: {detection.error}")
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None
        apply_config_detection(session, repository, detection, actor=actor, run_id=run_id, commit=commit)
        store = None
        if detection.config is not None:
            store = ensure_store(
                session,
                repository.workspace,
                detection.config.store,
                runtime.embedder,
                runtime.vector_store.backend,
                actor=actor,
            )
        config_hash = chunking_fingerprint(store) if store else ""
        if detection.status == ConfigStatus.CONFIGURED:
            repository.config_status = ConfigStatus.INGESTING.value
        run = RunPlan(
            repository_id=repository.id,
            repository_uid=repository.uid,
            run_id=run_id,
            commit=commit,
            store_id=store.id if store else None,
            config_hash=config_hash,
            config_status=detection.status,
            max_file_bytes=detection.config.max_file_bytes if detection.config else None,
        )
        # Documents of this repository outside the configured store are deleted.
        outside = select(Document.uid).where(Document.repository_id == repository.id)
        if store is not None:
            outside = outside.where(Document.store_id != store.id)
        run.deleted_uids.extend(session.scalars(outside))
        skipped_before = dict(
            session.execute(
                select(SkippedEntry.path, SkippedEntry.blob_id).where(SkippedEntry.repository_id == repository.id)
            ).all()
        )
        skipped_reasons = dict(
            session.execute(
                select(SkippedEntry.path, SkippedEntry.reason).where(SkippedEntry.repository_id == repository.id)
            ).all()
        )

    skip_known: list[str] = []
    if detection.config is not None:
        skip_known = plan_tree_into(runtime, source, run, detection.config, skipped_before, full)
    for path in skip_known:
        run.skipped[path] = (skipped_before[path], skipped_reasons.get(path, "skipped"))
    run.api_calls = source.api_calls
    run.seconds_plan = time.perf_counter() - started
    return run


def read_batch(source: Source, run: RunPlan, batch: list[PlannedRead], *, renames_and_deletes: bool) -> DocumentsStage:
    """Read and parse one batch of planned files; the first batch also carries the run's renames and deletes."""
    started = time.perf_counter()
    stage = DocumentsStage(
        repository_id=run.repository_id,
        repository_uid=run.repository_uid,
        run_id=run.run_id,
        commit=run.commit,
        store_id=run.store_id,
        config_hash=run.config_hash,
        config_status=run.config_status,
    )
    if renames_and_deletes:
        stage.renamed = list(run.renamed)
        stage.deleted_uids = list(run.deleted_uids)
    by_blob: dict[str, list[PlannedRead]] = {}
    for planned in batch:
        by_blob.setdefault(planned.blob_id, []).append(planned)
    for blob_id, data in source.read_blobs(list(by_blob), max_bytes=run.max_file_bytes):
        stage.blobs_read += 1
        text, reason = decode_text(data)
        for planned in by_blob.get(blob_id, []):
            if text is None:
                stage.skipped[planned.path] = (blob_id, reason or "unreadable")
                if planned.known_uid is not None:
                    stage.deleted_uids.append(planned.known_uid)
                continue
            parsed = parse_document(planned.path, text)
            stage.changed.append(
                ParsedFile(
                    path=planned.path,
                    blob_id=blob_id,
                    content_hash=content_hash(text),
                    size=len(data),
                    title=parsed.title,
                    frontmatter=parsed.frontmatter,
                    body=parsed.body,
                    relationships=parsed.relationships,
                    kind=document_kind(planned.path),
                    uid=planned.known_uid or new_uid(),
                    is_new=planned.known_uid is None,
                )
            )
    stage.api_calls = source.api_calls
    stage.seconds = {"read": time.perf_counter() - started}
    return stage

"""The run plan's tree against the catalog: both streamed in path order and merged (``index/plan.py``), the
files to read appended to the plan's on-disk list; memory keeps counts, skipped and vanished paths only."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from lightfast_pipeline.catalog.models import Document
from lightfast_pipeline.config.schema import LightfastConfig
from lightfast_pipeline.index.filters import skip_reason_for_entry
from lightfast_pipeline.index.plan import KnownDocument, merge_tree, pair_renames
from lightfast_pipeline.ingestion.stages import Rename, RunPlan
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.base import Source, TreeEntry

_ROWS_PER_FETCH = 2_000


def known_documents(
    session: Session, repository_id: int, store_id: int | None = None
) -> Iterator[tuple[str, KnownDocument]]:
    """``(path, KnownDocument)`` in ``index.plan.path_key`` order, fetched a few thousand rows at a time (of
    ``store_id`` only, if given).

    ``ORDER BY path`` compares UTF-8 bytes in SQLite's default BINARY collation; PostgreSQL is told ``COLLATE
    "C"`` (byte order in a UTF-8 database) whatever the column's collation. The rows stream from one query
    (a server-side cursor on PostgreSQL), so the session must stay open while the caller iterates.
    """
    path = Document.path.collate("C") if session.get_bind().dialect.name == "postgresql" else Document.path
    query = select(Document.path, Document.blob_id, Document.config_hash, Document.uid).where(
        Document.repository_id == repository_id
    )
    if store_id is not None:
        query = query.where(Document.store_id == store_id)
    query = query.order_by(path).execution_options(stream_results=True, yield_per=_ROWS_PER_FETCH)
    for document_path, blob_id, config_hash, uid in session.execute(query):
        yield document_path, KnownDocument(blob_id=blob_id, config_hash=config_hash, uid=uid)


def _selected(source: Source, run: RunPlan, config: LightfastConfig) -> Iterator[TreeEntry]:
    """The tree's entries the config selects; those that cannot be indexed go to ``run.skipped`` instead."""
    assert run.commit is not None
    for entry in source.tree(run.commit):
        if not config.matches(entry.path):
            continue
        reason = skip_reason_for_entry(entry, config.max_file_bytes)
        if reason is not None:
            run.skipped[entry.path] = (entry.blob_id, reason)
            continue
        yield entry


def plan_tree_into(
    runtime: Runtime, source: Source, run: RunPlan, config: LightfastConfig, skipped: Mapping[str, str], full: bool
) -> list[str]:
    """Fill ``run``'s files to read, renames, deletes and unchanged count; the paths skipped before with the
    same blob (``skipped``: path -> blob id) that need no reading."""
    assert run.store_id is not None
    with runtime.session() as session:
        documents = known_documents(session, run.repository_id, run.store_id)
        merged = merge_tree(
            _selected(source, run, config), documents, skipped, run.config_hash, run.to_read.append, full
        )
    new = ((planned.path, planned.blob_id) for planned in run.to_read if planned.known_uid is None)
    renamed, deleted = pair_renames(new, merged.vanished, run.config_hash, full)
    vanished = dict(merged.vanished)
    run.unchanged = merged.unchanged
    run.deleted_uids.extend(vanished[path].uid for path in deleted)
    run.renamed = [Rename(uid=vanished[old].uid, old_path=old, new_path=new) for old, new in renamed]
    run.to_read.drop(new for _old, new in renamed)
    return merged.skip_known

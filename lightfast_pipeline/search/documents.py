"""A document's current text by path (the MCP ``fetch`` tool): read from its source at the indexed commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from lightfast_pipeline.catalog.models import Document, Repository
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sources.factory import source_for

MAX_TEXT_CHARS = 200_000


class DocumentNotFound(LookupError):
    """No indexed document at this path in the workspace (or several: the repository must be named)."""


@dataclass(frozen=True)
class FetchedDocument:
    repository: str
    path: str
    title: str
    commit: str | None
    text: str
    truncated: bool


def fetch_document(runtime: Runtime, workspace_id: int, path: str, repository: str | None = None) -> FetchedDocument:
    """The text of the indexed document at ``path`` in the workspace, as of the commit it was indexed at."""
    query = (
        select(Document, Repository)
        .join(Repository, Repository.id == Document.repository_id)
        .where(Repository.workspace_id == workspace_id, Repository.active.is_(True), Document.path == path.lstrip("/"))
    )
    if repository:
        query = query.where(Repository.full_name == repository)
    with runtime.session() as session:
        rows = session.execute(query).all()
        if not rows:
            raise DocumentNotFound(f"no indexed document {path!r}")
        if len(rows) > 1:
            names = ", ".join(sorted(repo.full_name for _, repo in rows))
            raise DocumentNotFound(f"{path!r} is in several repositories ({names}): name one")
        document, repo = rows[0]
        commit = document.commit or repo.last_ingested_commit
        source = source_for(repo, runtime.settings)
        found = FetchedDocument(repo.full_name, document.path, document.title, commit, "", False)
    data = source.read_file(commit or source.head_commit(), found.path)
    if data is None:
        raise DocumentNotFound(f"{path!r} is no longer in {found.repository}")
    text = data.decode("utf-8", errors="replace")
    return FetchedDocument(
        found.repository, found.path, found.title, commit, text[:MAX_TEXT_CHARS], len(text) > MAX_TEXT_CHARS
    )

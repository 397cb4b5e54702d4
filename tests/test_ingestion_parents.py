"""Each document's parent is the README/index document of its nearest enclosing folder, set by the run's final
batch over the whole repository (``ingestion/write.py``) and moved when a folder index appears or goes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import aliased

from lightfast_pipeline.catalog.models import Document
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import connect_local, ingest


def parents(runtime: Runtime, repository_id: int) -> dict[str, str | None]:
    """path -> parent's path of every document of the repository."""
    parent = aliased(Document)
    with runtime.session() as session:
        rows = session.execute(
            select(Document.path, parent.path)
            .outerjoin(parent, parent.id == Document.parent_document_id)
            .where(Document.repository_id == repository_id)
        ).all()
    return dict(rows)


def test_parents_follow_the_nearest_folder_index(lightfast_env: Settings, tmp_path: Path) -> None:
    runtime = Runtime(lightfast_env)
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    pages = [
        "README.md",
        "notes.md",
        "guide/README.md",
        "guide/index.md",
        "guide/intro.md",
        "guide/deep/er/page.md",
        "other/_index.md",
        "other/x.md",
        "other/xindex.md",
    ]
    for page in pages:
        repo.write(page, f"# {page}\n\nThe page {page} of the handbook.\n")
    repo.commit("handbook")
    repository_id = connect_local(runtime, repo.path).id
    assert ingest(runtime, repository_id).status == "completed"
    assert parents(runtime, repository_id) == {
        "README.md": None,
        "notes.md": "README.md",
        "guide/README.md": "README.md",
        "guide/index.md": "README.md",  # README.md ranks first: index.md is a page of guide/ whose index is README
        "guide/intro.md": "guide/README.md",
        "guide/deep/er/page.md": "guide/README.md",
        "other/_index.md": "README.md",
        "other/x.md": "other/_index.md",
        "other/xindex.md": "other/_index.md",
    }

    repo.remove("README.md")
    repo.remove("guide/README.md")
    repo.commit("no READMEs")
    assert ingest(runtime, repository_id).status == "completed"
    assert parents(runtime, repository_id) == {
        "notes.md": None,
        "guide/index.md": None,
        "guide/intro.md": "guide/index.md",
        "guide/deep/er/page.md": "guide/index.md",
        "other/_index.md": None,
        "other/x.md": "other/_index.md",
        "other/xindex.md": "other/_index.md",
    }

"""Issue 2 acceptance on the real corpus: Electron's docs committed into a git repository with a lightfast.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightfast_pipeline.catalog.models import SourceType
from lightfast_pipeline.resources.embedder import EmbedderResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.query import search
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.workspaces.repositories import connect_repository
from tests.conftest import FIXTURES
from tests.support.gitrepo import GitRepo
from tests.support.ingest import assert_store_equals_ledger, document_paths, ingest

pytestmark = pytest.mark.shared_fixtures

CORPUS = FIXTURES / "corpus-small"
CONFIG = 'version: 1\nstore: electron\ninclude:\n  - "docs/**/*.md"\n'

# Questions written from reading the docs, with the files that answer each.
QUESTIONS = {
    "encrypt and decrypt strings for storage on the local machine": {"docs/api/safe-storage.md"},
    "make my app follow the operating system dark mode theme": {"docs/tutorial/dark-mode.md"},
    "show a progress bar on the taskbar or dock icon": {"docs/tutorial/progress-bar.md"},
    "add an icon to the system notification area tray": {"docs/tutorial/tray.md"},
    "register global keyboard shortcuts that work when the app is not focused": {"docs/api/global-shortcut.md"},
    "send messages between the main process and renderer with ipcRenderer invoke": {
        "docs/tutorial/ipc.md",
        "docs/api/ipc-renderer.md",
    },
}


def corpus_repo(tmp_path: Path, subset: str = "docs") -> GitRepo:
    repo = GitRepo(tmp_path / "electron")
    repo.copy_tree(CORPUS / subset, subset)
    repo.write("lightfast.yml", CONFIG)
    repo.commit("electron docs")
    return repo


def connect(runtime: Runtime, repo: GitRepo) -> int:
    return connect_repository(
        runtime,
        workspace_name=None,
        source=LocalGitSource(repo.path),
        source_type=SourceType.LOCAL.value,
        location=str(repo.path),
    ).id


def test_corpus_gives_one_document_per_markdown_file_and_answers_questions(
    lightfast_env: Settings, tmp_path: Path
) -> None:
    runtime = Runtime(lightfast_env)
    repo = corpus_repo(tmp_path)
    repository_id = connect(runtime, repo)
    outcome = ingest(runtime, repository_id)
    assert outcome.status == "completed", outcome.error
    markdown = {str(path.relative_to(repo.path)) for path in (repo.path / "docs").rglob("*.md")}
    assert len(markdown) == 298
    assert set(document_paths(runtime, repository_id)) == markdown
    assert outcome.documents["added"] == 298
    ledger = assert_store_equals_ledger(runtime, repository_id)
    assert outcome.chunks["embedded"] + outcome.chunks["reused"] == ledger
    for question, expected in QUESTIONS.items():
        paths = [hit.path for hit in search(runtime, question, None, top_k=3).results]
        assert expected & set(paths), f"{question!r} → {paths}"
    noop = ingest(runtime, repository_id)
    assert noop.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    assert noop.blobs_read == 0


@pytest.mark.slow
def test_real_model_finds_the_right_tutorial(tmp_path: Path, lightfast_env: Settings, monkeypatch) -> None:
    """The local sentence-transformers model, on a slice of the corpus (the full corpus is the benchmark's)."""
    monkeypatch.setenv("LIGHTFAST_EMBEDDER", "local")
    runtime = Runtime(Settings(**{**lightfast_env.__dict__, "embedder": "local"}))
    repo = GitRepo(tmp_path / "slice")
    for name in (
        "dark-mode.md",
        "tray.md",
        "progress-bar.md",
        "keyboard-shortcuts.md",
        "notifications.md",
        "ipc.md",
    ):
        repo.write(f"docs/tutorial/{name}", (CORPUS / "docs" / "tutorial" / name).read_text())
    repo.write("lightfast.yml", CONFIG)
    repo.commit("slice")
    repository_id = connect(runtime, repo)
    outcome = ingest(runtime, repository_id, embedder=EmbedderResource(provider="local"))
    assert outcome.status == "completed", outcome.error
    assert outcome.chunks["embedded"] > 0
    assert_store_equals_ledger(runtime, repository_id)
    hits = search(runtime, "how can my window react when the OS switches to a dark theme", None, top_k=1).results
    assert hits[0].path == "docs/tutorial/dark-mode.md"
    hits = search(runtime, "show an icon in the notification area of the taskbar", None, top_k=2).results
    assert "docs/tutorial/tray.md" in [hit.path for hit in hits]

"""Issue 15 item 1: a local repository of thousands of files is read and ingested without a pipe deadlock."""

from __future__ import annotations

import threading

import pytest

from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.sources.local_git import LocalGitSource
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, connect_local, ingest

FILES = 5_000
# Without the feeder thread the old code blocked forever once ~1,600 ids filled the pipe: fail fast instead.
DEADLINE_SECONDS = 120


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """5,000 small Markdown files in nested folders (each distinct), plus a config."""
    repo = GitRepo(tmp_path_factory.mktemp("scale") / "big-docs")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    for n in range(FILES):
        repo.write(f"docs/part-{n % 50:02d}/section-{n % 7}/page-{n:05d}.md", f"# Page {n}\n\nTopic number {n}.\n")
    repo.commit("five thousand pages")
    return repo


def _within_deadline(work, deadline: float = DEADLINE_SECONDS):
    """Run ``work()`` in a thread; fail the test (rather than hang) if it does not finish in time."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = work()
        except BaseException as error:  # re-raised in the test thread
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), f"did not finish within {deadline} s (deadlocked?)"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


def test_read_blobs_streams_five_thousand_blobs(big_repo: GitRepo) -> None:
    source = LocalGitSource(big_repo.path)
    entries = [entry for entry in source.tree(source.head_commit()) if entry.path.endswith(".md")]
    assert len(entries) == FILES

    blobs = _within_deadline(lambda: dict(source.read_blobs(entry.blob_id for entry in entries)))

    assert len(blobs) == FILES
    sample = next(entry for entry in entries if entry.path.endswith("page-04999.md"))
    assert blobs[sample.blob_id] == b"# Page 4999\n\nTopic number 4999.\n"


def test_read_blobs_skips_large_blobs_and_stops_early_without_hanging(big_repo: GitRepo) -> None:
    source = LocalGitSource(big_repo.path)
    ids = [entry.blob_id for entry in source.tree(source.head_commit()) if entry.path.endswith(".md")]

    def first_ten() -> list[str]:
        reader = source.read_blobs(ids)
        taken = [blob_id for blob_id, _ in zip(range(10), reader, strict=False)]
        reader.close()  # the caller stops early: git and the feeder thread must both end
        return taken

    assert len(_within_deadline(first_ten)) == 10
    assert _within_deadline(lambda: list(source.read_blobs(ids, max_bytes=5))) == []


def test_ingest_of_five_thousand_files_completes(lightfast_env: Settings, big_repo: GitRepo) -> None:
    runtime = Runtime(lightfast_env)
    repository = connect_local(runtime, big_repo.path)

    outcome = _within_deadline(lambda: ingest(runtime, repository.id), deadline=600)

    assert outcome.status == "completed", outcome.error
    assert outcome.documents["added"] == FILES
    assert outcome.blobs_read == FILES
    assert assert_store_equals_ledger(runtime, repository.id) == FILES

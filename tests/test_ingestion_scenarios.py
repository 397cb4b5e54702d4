"""Issue 2 acceptance scenarios: exact counts, and the store always equals the ledger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from lightfast_pipeline.catalog.models import Document, Repository, SkippedEntry
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.query import search
from lightfast_pipeline.settings import Settings
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, connect_local, document_paths, ingest


def section(title: str, words: str, paragraphs: int = 1) -> str:
    body = "\n\n".join(f"{words} paragraph {n} of {title.lower()}." for n in range(paragraphs))
    return f"## {title}\n\n{body}\n\n"


GUIDE = (
    "# Guide\n\nThe guide explains windows.\n\n"
    + section("Windows", "browser window frames and title bars", 3)
    + section("Menus", "application menu templates accelerators", 3)
    + section("Tray", "system tray icons balloons", 3)
)
API = "# API\n\nThe api reference lists protocol handlers and sessions.\n\n" + section(
    "Protocol", "custom scheme handler", 2
)
FAQ = "# FAQ\n\nWhy is my app slow? Check background throttling.\n"


@pytest.fixture
def runtime(lightfast_env: Settings) -> Runtime:
    return Runtime(lightfast_env)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "docs-repo")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("docs/guide.md", GUIDE)
    repo.write("docs/api/api.md", API)
    repo.write("faq.md", FAQ)
    repo.write("src/app.js", "console.log('not indexed')\n")
    repo.commit("initial")
    return repo


@pytest.fixture
def repository_id(runtime: Runtime, repo: GitRepo) -> int:
    repository = connect_local(runtime, repo.path)
    return repository.id


@pytest.fixture
def indexed(runtime: Runtime, repository_id: int) -> int:
    first = ingest(runtime, repository_id)
    assert first.status == "completed", first.error
    return repository_id


def test_initial_ingest_indexes_each_markdown_file(runtime: Runtime, repository_id: int) -> None:
    outcome = ingest(runtime, repository_id)
    assert outcome.status == "completed", outcome.error
    assert outcome.documents == {"added": 3, "modified": 0, "deleted": 0, "unchanged": 0, "skipped": 0}
    assert set(document_paths(runtime, repository_id)) == {"docs/guide.md", "docs/api/api.md", "faq.md"}
    ledger = assert_store_equals_ledger(runtime, repository_id)
    assert outcome.chunks["embedded"] + outcome.chunks["reused"] == ledger
    assert outcome.blobs_read == 3
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository.config_status == "configured"
        assert repository.document_count == 3
        assert repository.last_ingested_commit == outcome.commit


def test_noop_rerun_reads_and_embeds_nothing(runtime: Runtime, indexed: int) -> None:
    outcome = ingest(runtime, indexed)
    assert outcome.documents == {"added": 0, "modified": 0, "deleted": 0, "unchanged": 3, "skipped": 0}
    assert outcome.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    assert outcome.blobs_read == 0
    assert_store_equals_ledger(runtime, indexed)


def test_one_section_edit_reembeds_only_changed_chunks(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    before = document_paths(runtime, indexed)["docs/guide.md"]
    repo.write(
        "docs/guide.md",
        GUIDE.replace("system tray icons balloons paragraph 1", "tray icons with context menus paragraph 1"),
    )
    repo.commit("edit tray section")
    outcome = ingest(runtime, indexed)
    assert outcome.documents == {"added": 0, "modified": 1, "deleted": 0, "unchanged": 2, "skipped": 0}
    assert 1 <= outcome.chunks["embedded"] <= 1 + 2
    assert outcome.chunks["deleted"] == outcome.chunks["embedded"]
    assert document_paths(runtime, indexed)["docs/guide.md"] == before
    assert_store_equals_ledger(runtime, indexed)
    hits = search(runtime, "tray icons with context menus", None, top_k=1).results
    assert hits[0].path == "docs/guide.md"


def test_rename_reembeds_nothing_and_search_shows_new_path(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    repo.move("docs/api/api.md", "reference/protocol.md")
    repo.commit("move api docs")
    outcome = ingest(runtime, indexed)
    assert outcome.documents == {"added": 0, "modified": 1, "deleted": 0, "unchanged": 2, "skipped": 0}
    assert outcome.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    assert outcome.blobs_read == 0
    assert_store_equals_ledger(runtime, indexed)
    paths = [hit.path for hit in search(runtime, "custom scheme handler protocol", None, top_k=5).results]
    assert paths[0] == "reference/protocol.md"
    assert "docs/api/api.md" not in paths


def test_delete_removes_document_and_vectors(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    chunks_of_faq = document_paths(runtime, indexed)["faq.md"]
    repo.remove("faq.md")
    repo.commit("drop faq")
    outcome = ingest(runtime, indexed)
    assert outcome.documents == {"added": 0, "modified": 0, "deleted": 1, "unchanged": 2, "skipped": 0}
    assert outcome.chunks == {"embedded": 0, "reused": 0, "deleted": chunks_of_faq}
    assert "faq.md" not in document_paths(runtime, indexed)
    assert_store_equals_ledger(runtime, indexed)
    assert all(hit.path != "faq.md" for hit in search(runtime, "background throttling slow app", None).results)


def test_shrinking_document_deletes_its_extra_vectors(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    before = document_paths(runtime, indexed)["docs/guide.md"]
    assert before > 1
    repo.write("docs/guide.md", "# Guide\n\nThe guide explains windows.\n")
    repo.commit("shrink guide")
    outcome = ingest(runtime, indexed)
    assert outcome.documents["modified"] == 1
    assert outcome.chunks["embedded"] <= 1
    assert outcome.chunks["deleted"] == before - 1 + outcome.chunks["embedded"]
    assert document_paths(runtime, indexed)["docs/guide.md"] == 1
    assert_store_equals_ledger(runtime, indexed)


def test_identical_files_share_embeddings_but_not_vectors(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    repo.write("docs/copy-of-faq.md", FAQ)
    repo.commit("duplicate faq")
    outcome = ingest(runtime, indexed)
    assert outcome.documents["added"] == 1
    assert outcome.chunks["embedded"] == 0
    assert outcome.chunks["reused"] == document_paths(runtime, indexed)["docs/copy-of-faq.md"]
    assert_store_equals_ledger(runtime, indexed)
    repo.remove("faq.md")
    repo.commit("drop the original")
    ingest(runtime, indexed)
    assert_store_equals_ledger(runtime, indexed)
    hits = search(runtime, "background throttling slow app", None, top_k=3).results
    assert [hit.path for hit in hits if "faq" in hit.path] == ["docs/copy-of-faq.md"]


def test_history_rewrite_converges_to_the_older_tree(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    first = repo.head()
    repo.write("docs/new.md", "# New\n\nBrand new page about notifications.\n")
    repo.write("faq.md", FAQ + "\nMore answers about crashes.\n")
    repo.commit("second")
    assert ingest(runtime, indexed).status == "completed"
    repo.reset_hard(first)
    outcome = ingest(runtime, indexed)
    assert outcome.commit == first
    assert outcome.documents == {"added": 0, "modified": 1, "deleted": 1, "unchanged": 2, "skipped": 0}
    # Only the faq's old chunk, deleted when the faq changed, has to be embedded again.
    assert outcome.chunks["embedded"] == document_paths(runtime, indexed)["faq.md"] == 1
    assert set(document_paths(runtime, indexed)) == {"docs/guide.md", "docs/api/api.md", "faq.md"}
    assert_store_equals_ledger(runtime, indexed)


def test_config_exclude_removes_folder(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    repo.write("lightfast.yml", DEFAULT_CONFIG + 'exclude:\n  - "docs/api/**"\n')
    repo.commit("exclude api")
    outcome = ingest(runtime, indexed)
    assert outcome.documents == {"added": 0, "modified": 0, "deleted": 1, "unchanged": 2, "skipped": 0}
    assert "docs/api/api.md" not in document_paths(runtime, indexed)
    assert_store_equals_ledger(runtime, indexed)


def test_invalid_config_fails_run_and_deletes_nothing(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    before = document_paths(runtime, indexed)
    repo.write("lightfast.yml", "version: 1\nstore: docs\ninclude: []\n")
    repo.commit("break config")
    outcome = ingest(runtime, indexed)
    assert outcome.status == "failed"
    assert "include" in (outcome.error or "")
    with runtime.session() as session:
        repository = session.get(Repository, indexed)
        assert repository.config_status == "error"
        assert "include" in repository.config_error
    assert document_paths(runtime, indexed) == before
    assert_store_equals_ledger(runtime, indexed)


def test_unreadable_entries_are_skipped_with_reasons_and_not_reread(
    runtime: Runtime, repo: GitRepo, indexed: int
) -> None:
    repo.write("docs/binary.md", b"# looks like markdown\x00\x01\x02")
    repo.write("docs/latin1.md", "# caf\xe9\n".encode("latin-1"))
    repo.write("docs/huge.md", "# Huge\n\n" + "word " * 300_000)
    os.symlink("guide.md", repo.path / "docs/link.md")
    repo.commit("odd files")
    outcome = ingest(runtime, indexed)
    assert outcome.documents["added"] == 0
    assert outcome.documents["skipped"] == 4
    with runtime.session() as session:
        reasons = dict(session.execute(select(SkippedEntry.path, SkippedEntry.reason)).all())
    assert reasons == {
        "docs/binary.md": "binary",
        "docs/latin1.md": "not_utf8",
        "docs/huge.md": "too_large",
        "docs/link.md": "symlink",
    }
    again = ingest(runtime, indexed)
    assert again.blobs_read == 0
    assert again.documents["skipped"] == 4
    assert_store_equals_ledger(runtime, indexed)


def test_relationships_and_titles_are_recorded(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    repo.write(
        "docs/links.md",
        "---\ntitle: Linked page\n---\n\n"
        "See [the guide](guide.md#menus) and [api](api/api.md), fixes #42 and electron/electron#7.\n",
    )
    repo.commit("links")
    ingest(runtime, indexed)
    with runtime.session() as session:
        document = session.scalar(select(Document).where(Document.path == "docs/links.md"))
        assert document.title == "Linked page"
        assert document.relationships["links"] == ["docs/api/api.md", "docs/guide.md"]
        assert document.relationships["issues"] == ["#42", "electron/electron#7"]
        faq = session.scalar(select(Document).where(Document.path == "faq.md"))
        assert faq.title == "FAQ"


def test_run_launched_without_job_tags_is_recorded_as_manual(runtime: Runtime, repository_id: int) -> None:
    """What the UI's "Materialize" on a repository partition launches: the same job, tags completed by the run."""
    from lightfast_pipeline.definitions import ingestion_definitions
    from tests.support.resources import ingestion_resources

    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        uid, slug = repository.uid, repository.workspace.slug
    job = ingestion_definitions(ingestion_resources(runtime.settings)).resolve_job_def("ingest_repository")
    result = job.execute_in_process(partition_key=uid, instance=runtime.instance)
    assert result.success
    run_tags = runtime.instance.get_run_by_id(result.run_id).tags
    assert run_tags["lightfast/trigger"] == "manual"
    assert (run_tags["lightfast/repository"], run_tags["lightfast/workspace"]) == (uid, slug)
    assert_store_equals_ledger(runtime, repository_id)


def test_runs_record_duration_and_typed_errors_as_metric_points(
    runtime: Runtime, repo: GitRepo, repository_id: int
) -> None:
    from lightfast_pipeline.catalog.models import MetricPoint

    good = ingest(runtime, repository_id)
    repo.write("lightfast.yml", "version: 1\nstore: docs\ninclude: []\n")
    repo.commit("break config")
    bad = ingest(runtime, repository_id)
    assert (good.status, bad.status) == ("completed", "failed")
    with runtime.session() as session:
        points = [
            (p.type, p.value, p.tags)
            for p in session.scalars(select(MetricPoint))
            if p.type in ("job_duration", "errors")
        ]
    durations = {tags["run_id"]: (value, tags["outcome"]) for kind, value, tags in points if kind == "job_duration"}
    assert durations[good.run_id][1] == "completed" and durations[good.run_id][0] > 0
    assert durations[bad.run_id][1] == "failed"
    errors = [tags for kind, _value, tags in points if kind == "errors"]
    assert errors == [{"run_id": bad.run_id, "error_type": "ConfigInvalid"}]

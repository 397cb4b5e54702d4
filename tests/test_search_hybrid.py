"""Issue 13: the keyword index follows the ledger exactly; hybrid, keyword and vector search; filters; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from lightfast_pipeline.catalog.models import Chunk
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search import keyword
from lightfast_pipeline.search.evaluate import GradedQuery, QueryFileError, evaluate, read_queries, summarize
from lightfast_pipeline.search.fuse import fuse
from lightfast_pipeline.search.keyword import (
    fts5_expression,
    parse_query,
    tsquery_expression,
    without_common_terms,
)
from lightfast_pipeline.search.query import SearchError, search
from lightfast_pipeline.settings import Settings, load_settings
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, connect_local, ingest

# Each identifier lives in one page; the other pages hold its words apart, in another order or joined differently.
PAGES = {
    "docs/replicas.md": "# Index settings\n\n## Dynamic settings\n\nSet `index.number_of_replicas` to 2 for safety.\n",
    "docs/replica-count.md": "# Counting\n\nThe number of shards is not the index of replicas, of number.\n",
    "docs/cat.md": "# Compact APIs\n\nThe `_cat/indices` API lists every index with its health.\n",
    "docs/pets.md": "# Pets\n\nThe cat sleeps next to the indices of the book.\n",
    "docs/certs.md": "# Certificates\n\nA request fails with `ERR_CERT_INVALID` when the chain is broken.\n",
    "docs/errors.md": "# Errors\n\nAn invalid input is an error; certificates (cert) are checked elsewhere.\n",
    "docs/node.md": "# Node flags\n\nRaise the heap with `--max-old-space-size=4096` before building.\n",
    "docs/space.md": "# Space\n\nOld space has a max size, and the size of space is old news.\n",
    "guides/windows.md": "# Window handling\n\n## Frameless windows\n\nDrag regions move a frameless window.\n",
    "guides/menus.md": "# Menus\n\nMenus list accelerators. Zebrafish appear in one guide only.\n",
}
IDENTIFIERS = {
    "index.number_of_replicas": "docs/replicas.md",
    "_cat/indices": "docs/cat.md",
    "ERR_CERT_INVALID": "docs/certs.md",
    "--max-old-space-size": "docs/node.md",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The embedded default, and the production catalog (a throwaway PostgreSQL database)."""
    if request.param == "postgresql":
        monkeypatch.setenv("LIGHTFAST_DATABASE_URL", request.getfixturevalue("postgres_url"))
        return load_settings()
    return lightfast_env


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime(settings)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "docs-repo")
    repo.write("lightfast.yml", DEFAULT_CONFIG.replace('"docs/**/*.md"', '"docs/**/*.md", "guides/**/*.md"'))
    for path, content in PAGES.items():
        repo.write(path, content)
    repo.commit("initial")
    return repo


def _connect(runtime: Runtime, repo: GitRepo) -> int:
    return connect_local(runtime, repo.path).id


@pytest.fixture
def indexed(runtime: Runtime, repo: GitRepo) -> int:
    repository_id = _connect(runtime, repo)
    outcome = ingest(runtime, repository_id)
    assert outcome.status == "completed", outcome.error
    return repository_id


def _paths(runtime: Runtime, query: str, mode: str = "keyword", **options: object) -> list[str]:
    return [hit.path for hit in search(runtime, query, None, top_k=10, mode=mode, **options).results]


def test_query_parsing_keeps_identifiers_as_phrases() -> None:
    parsed = parse_query("How do I set index.number_of_replicas with --max-old-space-size?")
    assert parsed.phrases == (("index", "number", "of", "replicas"), ("max", "old", "space", "size"))
    assert "how" not in parsed.terms and "set" in parsed.terms and "replicas" in parsed.terms
    assert (
        fts5_expression(parse_query('say "ERR_CERT_INVALID"'))
        == '"err cert invalid" OR "say" OR "err" OR "cert" OR "invalid"'
    )
    assert tsquery_expression(parse_query("_cat/indices")) == "(cat <-> indices) | cat | indices"
    assert parse_query("the of ...").empty


def test_common_words_are_left_out_while_rarer_evidence_remains() -> None:
    parsed = parse_query("electron window ELECTRON_RUN_AS_NODE abi")
    counts = {"electron": 42_000, "window": 29_000, "run": 6_900, "node": 11_400, "abi": 44}
    kept = without_common_terms(parsed, counts, rows=100_000)
    assert kept.terms == ("run", "abi") and kept.phrases == parsed.phrases
    # Only common words: the rarest one is kept; a small store keeps every word (they cost ~nothing to score).
    assert without_common_terms(parse_query("electron window"), counts, rows=100_000).terms == ("window",)
    assert without_common_terms(parse_query("electron window"), counts, rows=15_000).terms == ("window",)
    assert without_common_terms(parse_query("electron window abi"), counts, rows=1_000_000).terms == (
        "electron",
        "window",
        "abi",
    )
    assert without_common_terms(parse_query("unknown words"), {}, rows=100_000).terms == ("unknown", "words")


def test_keyword_search_reads_word_counts_from_the_index(
    runtime: Runtime, indexed: int, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the floor, a word three of this store's chunks hold ("indexes", by its stem) drops out on SQLite."""
    both = set(_paths(runtime, "indexes zebrafish"))
    assert {"docs/replicas.md", "docs/cat.md", "guides/menus.md"} <= both
    monkeypatch.setattr(keyword, "COMMON_MIN_CHUNKS", 0)
    expected = {"guides/menus.md"} if settings.database_url.startswith("sqlite") else both
    assert set(_paths(runtime, "indexes zebrafish")) == expected


def test_identifiers_are_found_first_by_keyword_and_hybrid(runtime: Runtime, indexed: int) -> None:
    for identifier, page in IDENTIFIERS.items():
        assert _paths(runtime, identifier)[0] == page, identifier
        # The hashing embedder ranks the word-salad distractor as high: fusion keeps the page in the first two.
        assert page in _paths(runtime, identifier, mode="hybrid")[:2], identifier


def test_keyword_index_follows_noop_edit_rename_and_delete(runtime: Runtime, repo: GitRepo, indexed: int) -> None:
    ledger = assert_store_equals_ledger(runtime, indexed)
    noop = ingest(runtime, indexed)
    assert noop.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    assert assert_store_equals_ledger(runtime, indexed) == ledger

    repo.write("guides/menus.md", PAGES["guides/menus.md"].replace("Zebrafish", "Axolotls"))
    repo.commit("edit")
    edit = ingest(runtime, indexed)
    assert edit.documents["modified"] == 1 and edit.chunks["embedded"] == edit.chunks["deleted"] == 1
    assert_store_equals_ledger(runtime, indexed)
    assert _paths(runtime, "zebrafish") == []
    assert _paths(runtime, "axolotls") == ["guides/menus.md"]

    repo.move("docs/certs.md", "docs/security/certificates.md")
    repo.commit("rename")
    rename = ingest(runtime, indexed)
    assert rename.chunks == {"embedded": 0, "reused": 0, "deleted": 0}
    assert_store_equals_ledger(runtime, indexed)
    for mode in ("keyword", "hybrid", "vector"):
        paths = _paths(runtime, "ERR_CERT_INVALID", mode=mode)
        assert "docs/certs.md" not in paths, mode
        assert paths[0] == "docs/security/certificates.md", mode

    repo.remove("docs/node.md")
    repo.commit("delete")
    delete = ingest(runtime, indexed)
    assert delete.documents["deleted"] == 1 and delete.chunks["deleted"] >= 1
    assert_store_equals_ledger(runtime, indexed)
    assert _paths(runtime, "--max-old-space-size") == ["docs/space.md"]
    for mode in ("hybrid", "vector"):
        assert "docs/node.md" not in _paths(runtime, "--max-old-space-size", mode=mode), mode
    with runtime.session() as session:
        chunks = session.scalar(select(func.count()).select_from(Chunk))
        keyword_rows = session.scalar(text("SELECT count(*) FROM chunk_keywords"))
    assert keyword_rows == chunks


def test_title_and_heading_matches_count(runtime: Runtime, indexed: int) -> None:
    # "settings" is in replicas.md's title and heading only; "frameless" is in windows.md's heading and text;
    # "certificates" is certs.md's title and a word of errors.md's text.
    assert _paths(runtime, "settings") == ["docs/replicas.md"]
    assert _paths(runtime, "certificates") == ["docs/certs.md", "docs/errors.md"]
    assert _paths(runtime, "frameless")[0] == "guides/windows.md"


def test_filters_by_repository_and_path_prefix(runtime: Runtime, repo: GitRepo, indexed: int, tmp_path: Path) -> None:
    other = GitRepo(tmp_path / "other-repo")
    other.write("lightfast.yml", DEFAULT_CONFIG)
    other.write("docs/other.md", "# Other\n\nMenus list accelerators in the other repository too.\n")
    other.commit("initial")
    other_id = _connect(runtime, other)
    assert ingest(runtime, other_id).status == "completed"
    for mode in ("hybrid", "keyword", "vector"):
        everywhere = set(_paths(runtime, "menus accelerators", mode=mode))
        assert {"guides/menus.md", "docs/other.md"} <= everywhere, mode
        only_other = _paths(runtime, "menus accelerators", mode=mode, repository=str(other_id))
        assert only_other == ["docs/other.md"], mode
        guides = _paths(runtime, "menus accelerators", mode=mode, path_prefix="guides/")
        assert guides and all(path.startswith("guides/") for path in guides), mode
    with pytest.raises(SearchError, match="unknown mode"):
        search(runtime, "menus", None, mode="fuzzy")


def test_one_chunk_per_document_and_latency_breakdown(runtime: Runtime, indexed: int) -> None:
    result = search(runtime, "index settings replicas number", None, top_k=10)
    paths = [hit.path for hit in result.results]
    assert len(paths) == len(set(paths))
    assert set(result.latency_ms) >= {"embed", "vector", "keyword", "fuse", "retrieve", "total"}
    assert result.mode == "hybrid"
    assert search(runtime, "replicas", None, mode="keyword").latency_ms["embed"] == 0


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_hybrid_runs_the_keyword_query_beside_the_embedding(
    runtime: Runtime, indexed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keyword query runs in its own thread while the query is embedded; results are the same as inline."""
    import threading

    from lightfast_pipeline.search import query as query_module

    inline = search(runtime, "index settings replicas number", None, top_k=10)
    started, release = threading.Event(), threading.Event()
    original = query_module.keyword_search

    def keyword_search(*args, **kwargs):
        started.set()
        assert threading.current_thread().name.startswith("lightfast-keyword")
        assert release.wait(10)
        return original(*args, **kwargs)

    embed_query = runtime.embedder.embed_query

    def embed_after_keyword_started(text: str) -> list[float]:
        assert started.wait(10)  # the keyword query is already running while the query is embedded
        release.set()
        return embed_query(text)

    monkeypatch.setattr(query_module, "keyword_search", keyword_search)
    monkeypatch.setattr(runtime.embedder, "embed_query", embed_after_keyword_started)
    overlapped = search(runtime, "index settings replicas number", None, top_k=10)
    assert overlapped.results == inline.results


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_cli_search_modes_and_eval(run, runtime: Runtime, indexed: int, tmp_path: Path) -> None:
    for mode in ("hybrid", "keyword", "vector"):
        result = run("search", "ERR_CERT_INVALID", "--mode", mode, "--json")
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert payload["mode"] == mode
        assert payload["results"][0]["path"] == "docs/certs.md"
        assert set(payload["results"][0]) >= {"path", "title", "heading", "snippet", "score", "repository"}
        assert set(payload["latency_ms"]) >= {"embed", "vector", "keyword", "fuse", "retrieve", "total"}
    bad = run("search", "x", "--mode", "fuzzy")
    assert bad.exit_code == 1 and "unknown mode" in bad.stderr

    queries = tmp_path / "queries.tsv"
    queries.write_text(
        "# graded\nERR_CERT_INVALID\tdocs/certs.md\n"
        "--max-old-space-size\tdocs/nowhere.md\tdocs/node.md\nzzzqqq unknown words\tdocs/cat.md\n"
    )
    result = run("eval", str(queries), "--mode", "keyword", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert list(summary) == ["queries", "recall", "mrr", "ndcg", "latency_ms", "per_query"]
    assert summary["queries"] == 3
    assert summary["recall"] == {"1": 0.6667, "5": 0.6667, "10": 0.6667}
    assert summary["mrr"] == 0.6667
    assert [item["rank"] for item in summary["per_query"]] == [1, 1, None]
    assert summary["per_query"][1] == {
        "query": "--max-old-space-size",
        "expected": ["docs/nowhere.md", "docs/node.md"],
        "rank": 1,
    }
    assert set(summary["latency_ms"]) == {"p50", "p95"}
    missing = run("eval", str(tmp_path / "absent.tsv"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_weighted_fusion_scales_each_list_and_keeps_candidates_without_positive_scores() -> None:
    vector = [("a", 0.8), ("b", 0.4)]
    keyword = [("b", 10.0), ("c", 5.0)]
    assert fuse([vector, keyword], "weighted") == {"a": 1.0, "b": 1.5, "c": 0.5}
    # Cosine similarities can all be negative (a query far from every page): those candidates stay, at 0.
    assert fuse([[("v", -0.2), ("w", -0.5)], keyword], "weighted") == {"v": 0.0, "w": 0.0, "b": 1.0, "c": 0.5}
    assert fuse([vector, keyword], "rrf")["b"] == pytest.approx(1 / 62 + 1 / 61)


def test_eval_metrics_on_a_hand_checked_set() -> None:
    queries = [GradedQuery(f"q{n}", (f"a{n}.md", f"b{n}.md")) for n in range(4)]
    results = {
        "q0": ["a0.md", "x.md"],  # rank 1
        "q1": ["x.md", "y.md", "b1.md"],  # rank 3 (second expected path)
        "q2": ["x.md"],  # not found
        "q3": [f"x{n}.md" for n in range(11)] + ["a3.md"],  # rank 12: beyond every cutoff
    }
    latencies = {"q0": 10.0, "q1": 20.0, "q2": 30.0, "q3": 40.0}
    outcomes = evaluate(queries, lambda query: (results[query], latencies[query]))
    assert [outcome.rank for outcome in outcomes] == [1, 3, None, 12]
    summary = summarize(outcomes)
    assert summary["recall"] == {"1": 0.25, "5": 0.5, "10": 0.5}
    assert summary["mrr"] == round((1 + 1 / 3) / 4, 4)
    assert summary["ndcg"] == round((1 + 1 / 2) / 4, 4)  # 1/log2(1+1) + 1/log2(1+3)
    assert summary["latency_ms"] == {"p50": 20.0, "p95": 40.0}
    assert summary["per_query"][1] == {"query": "q1", "expected": ["a1.md", "b1.md"], "rank": 3}


def test_query_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("# comment\n\nno expected path here\n")
    with pytest.raises(QueryFileError, match=r"bad\.tsv:3"):
        read_queries(bad)
    good = tmp_path / "good.tsv"
    good.write_text("a query\tdocs/a.md\t docs/b.md \n")
    assert read_queries(good) == [GradedQuery("a query", ("docs/a.md", "docs/b.md"))]

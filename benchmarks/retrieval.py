"""Benchmark: retrieval quality and latency, vector-only against hybrid, on corpus-small with the local model.

Prints, in one run: recall@1/5/10, MRR@10 and nDCG@10 of ``benchmarks/queries/electron.tsv`` for each mode and
fusion (vector, keyword, hybrid RRF, hybrid weighted sum) with retrieve latency (query embedding excluded) and
embedding latency; the keyword index's cost inside the commit (every chunk's ledger row written with its keyword
rows, by the triggers, and without them) against the initial index time; and, with ``--scale N``, search
latency per part over N chunks (``benchmarks/search_latency.py``: the real corpus copied with new ids, vectors
the real ones plus a little noise, so synthetic; the grown home is kept beside ``--home`` and reused).

Usage: ``python -m benchmarks.retrieval [--home DIR] [--scale 100000]``. ``--home`` keeps the indexed corpus
between runs (the initial index with the local model takes ~7 minutes on 2 quiet cores); a home that already
holds it is reused.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

from benchmarks.search_latency import copy_catalog

QUERIES = Path(__file__).resolve().parent / "queries" / "electron.tsv"
RUNS = (("vector", "rrf"), ("keyword", "rrf"), ("hybrid", "rrf"), ("hybrid", "weighted"))


def _environment(home: Path, embedder: str) -> None:
    os.environ.update(
        {
            "LIGHTFAST_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "LIGHTFAST_EMBEDDER": embedder,
            "HF_HUB_OFFLINE": "1",
        }
    )
    os.environ.pop("LIGHTFAST_DATABASE_URL", None)
    os.environ.pop("LIGHTFAST_LANCEDB_URI", None)


def _index_corpus(home: Path, subset: str) -> float | None:
    """Index corpus-small into ``home`` unless it is there; returns the initial index seconds (None if reused)."""
    from sqlalchemy import func, select

    from benchmarks.ingest import _make_repo, _timed_ingest
    from lightfast_pipeline.catalog.models import Document, SourceType
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.sources.local_git import LocalGitSource
    from lightfast_pipeline.workspaces.repositories import connect_repository

    runtime = Runtime()
    with runtime.session() as session:
        if session.scalar(select(func.count()).select_from(Document)):
            return None
    repo = _make_repo(home, subset)
    runtime.embedder.embed_documents(["warm up the model"])
    repository_id = connect_repository(
        runtime,
        workspace_name=None,
        source=LocalGitSource(repo),
        source_type=SourceType.LOCAL.value,
        location=str(repo),
    ).id
    seconds, outcome = _timed_ingest(runtime, repository_id)
    print(f"initial index: {seconds:.1f} s {outcome.documents} {outcome.chunks}")
    return seconds


def _keyword_commit_seconds(home: Path, repeat: int = 3) -> tuple[float, float, int]:
    """Seconds to write every chunk's ledger row with its keyword rows (the triggers on) and without them, as
    the commit point writes them (one INSERT per chunk), on a copy of the catalog: best of ``repeat`` each."""
    scratch = home / "keyword-cost.db"
    copy_catalog(home / "catalog.db", scratch)
    try:
        with sqlite3.connect(scratch) as connection:
            connection.execute("CREATE TEMP TABLE saved AS SELECT * FROM chunks")
            rows = connection.execute("SELECT * FROM saved").fetchall()
            columns = len(rows[0])
            insert = f"INSERT INTO chunks VALUES ({', '.join('?' * columns)})"
            trigger = connection.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'chunk_keywords_insert'"
            ).fetchone()[0]

            def write() -> float:
                connection.execute("DELETE FROM chunks")
                connection.commit()
                started = time.perf_counter()
                connection.executemany(insert, rows)
                connection.commit()
                return time.perf_counter() - started

            with_keywords = min(write() for _ in range(repeat))
            connection.execute("DROP TRIGGER chunk_keywords_insert")
            without = min(write() for _ in range(repeat))
            connection.execute(trigger)
            return with_keywords, without, len(rows)
    finally:
        scratch.unlink(missing_ok=True)


def _p(values: list[float], fraction: float) -> float:
    from lightfast_pipeline.search.evaluate import percentile

    return percentile(values, fraction)


def _quality(runtime) -> None:
    from lightfast_pipeline.search.evaluate import evaluate, read_queries, summarize
    from lightfast_pipeline.search.query import search

    queries = read_queries(QUERIES)
    exact_count = sum(1 for line in QUERIES.read_text().split("# Section 2")[0].splitlines() if "\t" in line)
    runtime.embedder.warm_up()
    print(f"\n{len(queries)} graded queries ({exact_count} exact-token, {len(queries) - exact_count} paraphrased)")
    header = (
        "mode                 R@1    R@5    R@10   MRR@10 nDCG@10 | exact R@5 MRR | para R@5 MRR | retrieve p50/p95 ms"
    )
    print(header)
    embed_ms: list[float] = []
    for mode, fusion in RUNS:
        retrieve: list[float] = []

        def run(query: str, mode: str = mode, fusion: str = fusion, retrieve: list[float] = retrieve):
            result = search(runtime, query, None, top_k=10, mode=mode, fusion=fusion, record=False)
            retrieve.append(result.latency_ms["retrieve"])
            if mode == "vector":
                embed_ms.append(result.latency_ms["embed"])
            return [hit.path for hit in result.results], result.latency_ms["total"]

        outcomes = evaluate(queries, run)
        whole = summarize(outcomes)
        exact, para = summarize(outcomes[:exact_count]), summarize(outcomes[exact_count:])
        label = f"{mode}" + (f" ({fusion})" if mode == "hybrid" else "")
        print(
            f"{label:20s} {whole['recall']['1']:.3f}  {whole['recall']['5']:.3f}  {whole['recall']['10']:.3f}  "
            f"{whole['mrr']:.3f}  {whole['ndcg']:.3f}  |  {exact['recall']['5']:.3f} {exact['mrr']:.3f}  |  "
            f"{para['recall']['5']:.3f} {para['mrr']:.3f}  |  {_p(retrieve, 0.5):.1f} / {_p(retrieve, 0.95):.1f}"
        )
        missed = [item for item in whole["per_query"] if item["rank"] is None or item["rank"] > 5]
        print("    not in top 5: " + "; ".join(f"{m['query'][:50]} ({m['rank']})" for m in missed))
    print(f"query embedding: p50 {_p(embed_ms, 0.5):.1f} ms, p95 {_p(embed_ms, 0.95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--home", type=Path, default=Path(".lightfast-bench-retrieval"), help="state directory kept between runs"
    )
    parser.add_argument("--scale", type=int, default=0, help="also time search over this many chunks (e.g. 100000)")
    parser.add_argument("--only-scale", action="store_true", help="skip the quality runs (with --scale)")
    parser.add_argument("--subset", default="docs", help="folder of corpus-small to index (default: all docs)")
    parser.add_argument("--embedder", default="local", help="embedder spec (default: the local model)")
    parser.add_argument("--initial-seconds", type=float, default=None, help="initial index time of a reused home")
    args = parser.parse_args()
    home = args.home.resolve()
    _environment(home, args.embedder)
    initial = _index_corpus(home, args.subset) or args.initial_seconds
    from lightfast_pipeline.runtime import Runtime

    with_keywords, without, chunks = _keyword_commit_seconds(home)
    keyword_s = with_keywords - without
    share = f" = {100 * keyword_s / initial:.2f} % of the initial index ({initial:.1f} s)" if initial else ""
    print(
        f"ledger rows of {chunks} chunks written in {with_keywords:.2f} s with their keyword rows, {without:.2f} s "
        f"without: the keyword index costs {keyword_s:.2f} s{share} (load average {os.getloadavg()[0]:.1f})"
    )
    if not args.only_scale:
        _quality(Runtime())
    if args.scale:
        from benchmarks.search_latency import scale_home, time_searches
        from lightfast_pipeline.search.evaluate import read_queries

        scratch = scale_home(home, args.scale)
        _environment(scratch, args.embedder)
        time_searches(scratch, [graded.query for graded in read_queries(QUERIES)])


if __name__ == "__main__":
    main()

"""Benchmark: retrieval quality and latency, vector-only against hybrid, on corpus-small with the local model.

Prints, in one run: recall@1/5/10, MRR@10 and nDCG@10 of ``benchmarks/queries/electron.tsv`` for each mode and
fusion (vector, keyword, hybrid RRF, hybrid weighted sum) with retrieve latency (query embedding excluded) and
embedding latency; the cost of building the keyword index for every chunk against the initial index time; and,
with ``--scale N``, search latency over N chunks (the real corpus copied with new ids; copies' vectors are the
real ones plus a little noise, so they are synthetic).

Usage: ``python -m benchmarks.retrieval [--home DIR] [--scale 100000]``. ``--home`` keeps the indexed corpus
between runs (the initial index with the local model takes ~7 minutes on 2 quiet cores); a home that already
holds it is reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import time
from pathlib import Path

QUERIES = Path(__file__).resolve().parent / "queries" / "electron.tsv"
RUNS = (("vector", "rrf"), ("keyword", "rrf"), ("hybrid", "rrf"), ("hybrid", "weighted"))
COPY_BATCH = 2000


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


def _copy_catalog(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite catalog in WAL mode (the backup API, not a file copy)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _keyword_build_seconds(home: Path) -> tuple[float, int]:
    """Seconds to build the keyword rows of every chunk (as the triggers do), on a copy of the catalog."""
    scratch = home / "keyword-cost.db"
    _copy_catalog(home / "catalog.db", scratch)
    try:
        with sqlite3.connect(scratch) as connection:
            connection.execute("DELETE FROM chunk_fts")
            connection.execute("DELETE FROM chunk_keywords")
            connection.commit()
            count = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
            started = time.perf_counter()
            connection.execute("INSERT INTO chunk_keywords (vector_id) SELECT vector_id FROM chunks")
            connection.execute(
                "INSERT INTO chunk_fts (rowid, title, heading, body) SELECT k.id, d.title, c.heading_path, c.text "
                "FROM chunk_keywords k JOIN chunks c ON c.vector_id = k.vector_id "
                "JOIN documents d ON d.id = c.document_id"
            )
            connection.commit()
            return time.perf_counter() - started, count
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


def _scale(home: Path, target: int, embedder: str) -> None:
    """Copy the indexed corpus to ``target`` chunks in a scratch home and time searches there."""
    import numpy as np

    scratch = home.parent / f"{home.name}-scale"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(home, scratch, ignore=shutil.ignore_patterns("dagster", "electron", "*.sock", "catalog.db*"))
    _copy_catalog(home / "catalog.db", scratch / "catalog.db")
    _environment(scratch, embedder)
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.search.evaluate import read_queries
    from lightfast_pipeline.search.query import search
    from lightfast_pipeline.vectorstores.base import VectorRecord

    runtime = Runtime()
    rng = np.random.default_rng(13)
    with sqlite3.connect(scratch / "catalog.db") as connection:
        namespace = connection.execute("SELECT namespace FROM stores").fetchone()[0]
        base = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        ids = [row[0] for row in connection.execute("SELECT vector_id FROM chunks")]
        vectors = {}
        for start in range(0, len(ids), 500):
            vectors.update(runtime.vector_store.fetch(namespace, ids[start : start + 500]))
        copies = -(-target // base) - 1
        started = time.perf_counter()
        for copy in range(1, copies + 1):
            connection.execute(
                "INSERT INTO documents (uid, store_id, repository_id, path, blob_id, content_hash, config_hash, title, "
                'frontmatter, size_bytes, chunk_count, relationships, "commit", indexed_at, updated_at) '
                f"SELECT lower(hex(randomblob(16))), store_id, repository_id, 'copy{copy}/' || path, blob_id, "
                'content_hash, config_hash, title, frontmatter, size_bytes, chunk_count, relationships, "commit", '
                "indexed_at, updated_at FROM documents WHERE path NOT LIKE 'copy%'"
            )
            rows = connection.execute(
                "SELECT c.vector_id, n.uid, n.id, c.store_id, c.repository_id, c.chunk_index, c.content_hash, "
                "c.heading_path, c.token_count, c.text, o.uid FROM chunks c JOIN documents o ON o.id = c.document_id "
                f"JOIN documents n ON n.path = 'copy{copy}/' || o.path WHERE o.path NOT LIKE 'copy%'"
            ).fetchall()
            new_rows, records = [], []
            for old_id, new_uid, new_doc, *rest, old_uid in rows:
                new_id = old_id.replace(old_uid, new_uid)
                new_rows.append((new_id, new_doc, *rest))
                noisy = np.asarray(vectors[old_id]) + rng.normal(0, 0.02, len(vectors[old_id]))
                metadata = {"repository": new_id.split(":", 1)[0], "document": new_uid}
                records.append(VectorRecord(new_id, (noisy / np.linalg.norm(noisy)).tolist(), metadata))
            connection.executemany(
                "INSERT INTO chunks (vector_id, document_id, store_id, repository_id, chunk_index, content_hash, "
                "heading_path, token_count, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                new_rows,
            )
            connection.commit()
            for start in range(0, len(records), COPY_BATCH):
                runtime.vector_store.upsert(namespace, records[start : start + COPY_BATCH])
        total = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        keyword_rows = connection.execute("SELECT count(*) FROM chunk_fts").fetchone()[0]
    print(
        f"\nscale: {total} chunks ({keyword_rows} keyword rows, {runtime.vector_store.count(namespace)} vectors), "
        f"built in {time.perf_counter() - started:.0f} s"
    )
    queries = [graded.query for graded in read_queries(QUERIES)]
    runtime.embedder.warm_up()
    for mode in ("vector", "keyword", "hybrid"):
        search(runtime, queries[0], None, top_k=10, mode=mode, record=False)  # open tables, warm caches
        parts: dict[str, list[float]] = {"retrieve": [], "vector": [], "keyword": [], "fuse": []}
        cpu: list[float] = []
        for query in queries:
            cpu_started = time.process_time()
            latency = search(runtime, query, None, top_k=10, mode=mode, record=False).latency_ms
            # CPU time of every thread of this process: what the query costs when it has the cores to itself
            # (the query embedding included).
            cpu.append((time.process_time() - cpu_started) * 1000)
            for key, values in parts.items():
                values.append(latency[key])
        summary = ", ".join(f"{key} p50 {_p(v, 0.5):.1f} p95 {_p(v, 0.95):.1f}" for key, v in parts.items())
        mean = statistics.mean(parts["retrieve"])
        print(f"{mode:8s} (ms, query embedding excluded): {summary}; mean retrieve {mean:.1f}")
        print(f"{'':8s} CPU per query incl. embedding: p50 {_p(cpu, 0.5):.1f} ms, p95 {_p(cpu, 0.95):.1f} ms")
    shutil.rmtree(scratch, ignore_errors=True)


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

    keyword_s, chunks = _keyword_build_seconds(home)
    share = f" = {100 * keyword_s / initial:.2f} % of the initial index ({initial:.1f} s)" if initial else ""
    print(f"keyword index of {chunks} chunks built in {keyword_s:.2f} s{share}")
    if not args.only_scale:
        _quality(Runtime())
    if args.scale:
        _scale(home, args.scale, args.embedder)


if __name__ == "__main__":
    main()

"""Benchmark: search latency at scale, each part of the retrieve path timed in wall and CPU time.

Builds (once, then reuses) a copy of an indexed corpus grown to N chunks: the catalog gets N chunk rows and
their keyword rows, the vector store N vectors (the real ones plus a little noise: synthetic), written through
the store's upsert so its index policy runs as it would. Then every graded query runs in each mode through
``search()`` with its query embedding computed beforehand (the target excludes it), and prints for each part —
``vector`` (LanceDB query), ``keyword`` (catalog full-text query), ``catalog`` (the join that reads the
candidates' display rows), ``retrieve`` (everything but the embedding: what issue 13's target is about) — the
p50/p95 of wall time and of CPU time. CPU time (all threads of this process) is what a query costs when it has
the cores to itself: on a shared machine wall time also counts waiting for a core.

Usage: ``python -m benchmarks.search_latency --home DIR [--chunks 100000]``, where DIR holds a corpus indexed
by ``benchmarks.retrieval`` (which calls this with ``--scale``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COPY_BATCH = 2000
TARGET_P95_MS = 50.0
MODES = ("vector", "keyword", "hybrid")
PARTS = ("vector", "keyword", "catalog", "retrieve")
# SQLite works in the calling thread: its CPU time is that thread's. LanceDB works in its own threads: its CPU
# time is the process's, which in hybrid mode also holds the keyword thread's (shown as n/a there).
THREAD_CLOCK = {"keyword": True, "catalog": True, "vector": False, "retrieve": False}


def _p(values: list[float], fraction: float) -> float:
    from lightfast_pipeline.search.evaluate import percentile

    return percentile(values, fraction)


def copy_catalog(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite catalog in WAL mode (the backup API, not a file copy)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def scale_home(home: Path, target: int) -> Path:
    """``home`` copied and grown to ``target`` chunks in ``<home>-scale<target>`` (reused when complete)."""
    scratch = home.parent / f"{home.name}-scale{target}"
    done = scratch / "scale-complete"
    if done.exists():
        return scratch
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(home, scratch, ignore=shutil.ignore_patterns("dagster", "electron", "*.sock", "catalog.db*"))
    copy_catalog(home / "catalog.db", scratch / "catalog.db")
    os.environ["LIGHTFAST_HOME"] = str(scratch)
    started = time.perf_counter()
    _grow(scratch, target)
    print(f"scale home {scratch} built in {time.perf_counter() - started:.0f} s")
    done.touch()
    return scratch


def _grow(scratch: Path, target: int) -> None:
    """Copy every document and chunk until the catalog holds ``target`` chunks (vectors: original + noise)."""
    import numpy as np

    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.vectorstores.base import VectorRecord

    runtime = Runtime()
    rng = np.random.default_rng(13)
    with sqlite3.connect(scratch / "catalog.db") as connection:
        namespace = connection.execute("SELECT namespace FROM stores").fetchone()[0]
        base = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        ids = [row[0] for row in connection.execute("SELECT vector_id FROM chunks")]
        vectors = runtime.vector_store.fetch(namespace, ids)
        for copy in range(1, -(-target // base)):
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


class PrecomputedEmbedder:
    """The real embedder's query vectors, computed before timing starts (the target excludes the embedding)."""

    def __init__(self, embedder: Any, queries: list[str]) -> None:
        self.model = embedder.model
        self._vectors = {query: embedder.embed_query(query) for query in queries}

    def warm_up(self) -> None:
        """Nothing to load."""

    def embed_query(self, text: str) -> list[float]:
        return self._vectors[text]


class PartTimer:
    """Wall and CPU milliseconds of the current query's parts, recorded by wrapped functions."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[str, list[float]]] = {}
        self._current: dict[str, tuple[float, float]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget everything measured so far (e.g. a warm-up search)."""
        self.samples = {part: {"wall": [], "cpu": []} for part in PARTS}
        self._current = {}

    def wrap(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.measure(part):
                return function(*args, **kwargs)

        return timed

    @contextmanager
    def measure(self, part: str):
        clock = time.thread_time if THREAD_CLOCK[part] else time.process_time
        wall, cpu = time.perf_counter(), clock()
        try:
            yield
        finally:
            spent_wall, spent_cpu = self._current.get(part, (0.0, 0.0))
            self._current[part] = (
                spent_wall + (time.perf_counter() - wall) * 1000,
                spent_cpu + (clock() - cpu) * 1000,
            )

    def end_query(self) -> None:
        """File the current query's sums (a part not run counts 0) and start the next query."""
        for part in PARTS:
            wall, cpu = self._current.get(part, (0.0, 0.0))
            self.samples[part]["wall"].append(wall)
            self.samples[part]["cpu"].append(cpu)
        self._current = {}


def time_searches(scratch: Path, queries: list[str], rounds: int = 1) -> None:
    """Each mode over every query: p50/p95 wall and CPU per part, against the retrieve target."""
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.search import query as search_module

    os.environ["LIGHTFAST_HOME"] = str(scratch)
    runtime = Runtime()
    with sqlite3.connect(scratch / "catalog.db") as connection:
        chunks = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        keyword_rows = connection.execute("SELECT count(*) FROM chunk_keywords").fetchone()[0]
        namespace = connection.execute("SELECT namespace FROM stores").fetchone()[0]
    state = runtime.vector_store.index_state(namespace)
    print(
        f"\n== search at {chunks:,} chunks ({keyword_rows:,} keyword rows, {state.rows:,} vectors, index "
        f"{state.index_name}, {state.unindexed_rows} unindexed), {len(queries)} queries x {rounds}, top 10, "
        "query embedding computed beforehand"
    )
    runtime.__dict__["embedder"] = PrecomputedEmbedder(runtime.embedder, queries)
    for mode in MODES:
        timer = PartTimer()
        store = runtime.vector_store
        originals = (store.query, search_module.keyword_search, search_module._catalog_rows)
        store.query = timer.wrap("vector", originals[0])  # type: ignore[method-assign]
        search_module.keyword_search = timer.wrap("keyword", originals[1])
        search_module._catalog_rows = timer.wrap("catalog", originals[2])
        try:
            search_module.search(runtime, queries[0], None, top_k=10, mode=mode, record=False)  # warm caches
            timer.reset()
            for _ in range(rounds):
                for query in queries:
                    with timer.measure("retrieve"):
                        search_module.search(runtime, query, None, top_k=10, mode=mode, record=False)
                    timer.end_query()
        finally:
            store.query, search_module.keyword_search, search_module._catalog_rows = originals  # type: ignore[method-assign]
        load = os.getloadavg()[0]
        for part in PARTS:
            if part in MODES and part != mode and mode != "hybrid":
                continue
            wall, cpu = timer.samples[part]["wall"], timer.samples[part]["cpu"]
            goal = f"  (goal: wall p95 <= {TARGET_P95_MS:.0f} ms)" if part == "retrieve" else ""
            overlapped = mode == "hybrid" and part == "vector"
            cpu_text = f"p50 {_p(cpu, 0.5):6.1f} p95 {_p(cpu, 0.95):6.1f} ms"
            if overlapped:
                cpu_text = "n/a (overlaps the keyword thread)"
            wall_text = f"wall p50 {_p(wall, 0.5):6.1f} p95 {_p(wall, 0.95):6.1f} ms"
            print(f"  {mode:8s} {part:9s} {wall_text} | CPU {cpu_text}{goal}")
        print(f"  {'':8s} (load average {load:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="a home holding the indexed corpus")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1, help="times each query runs per mode")
    parser.add_argument("--embedder", default="local")
    args = parser.parse_args()
    from benchmarks.retrieval import QUERIES, _environment

    home = args.home.resolve()
    _environment(home, args.embedder)
    from lightfast_pipeline.search.evaluate import read_queries

    scratch = scale_home(home, args.chunks)
    _environment(scratch, args.embedder)
    time_searches(scratch, [graded.query for graded in read_queries(QUERIES)], args.rounds)


if __name__ == "__main__":
    main()

"""Benchmark: the embedded LanceDB store (upsert rate, re-upsert rate, exact query latency, list, delete) and,
with ``--model``, the local embedding model's throughput on ~215-token chunks.

Usage: ``.venv/bin/python -m benchmarks.vectorstore [--vectors 20000] [--model]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lightfast_pipeline.vectorstores.base import VectorRecord
from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

NS = "bench/store"
CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "corpus-small"


def _records(count: int, dimension: int, seed: int) -> list[VectorRecord]:
    rng = random.Random(seed)
    return [
        VectorRecord(
            id=f"repo:doc{i // 10:05d}:{i:08x}",
            vector=[rng.gauss(0, 1) for _ in range(dimension)],
            metadata={"repository": "repo", "document": f"doc{i // 10:05d}"},
        )
        for i in range(count)
    ]


def bench_lancedb(count: int, dimension: int) -> None:
    """Print LanceDB write and read figures for ``count`` vectors."""
    with tempfile.TemporaryDirectory() as tmp:
        store = LanceDBVectorStore(str(Path(tmp) / "vectors"))
        records = _records(count, dimension, 1)
        started = time.perf_counter()
        store.upsert(NS, records)
        insert = time.perf_counter() - started
        started = time.perf_counter()
        store.upsert(NS, _records(count, dimension, 2))
        replace = time.perf_counter() - started
        queries = []
        for record in records[:20]:
            started = time.perf_counter()
            store.query(NS, record.vector, top_k=10)
            queries.append(time.perf_counter() - started)
        started = time.perf_counter()
        ids = list(store.list_ids(NS, "repo:"))
        listing = time.perf_counter() - started
        started = time.perf_counter()
        store.delete(NS, ids[: count // 10])
        deleting = time.perf_counter() - started
        print(f"LanceDB, {count} vectors x {dimension} dims")
        print(f"  insert          {count / insert:10.0f} vectors/s")
        print(f"  replace (same)  {count / replace:10.0f} vectors/s")
        print(f"  exact query     {statistics.median(queries) * 1000:10.1f} ms median (top 10)")
        print(f"  list ids        {listing * 1000:10.1f} ms for {len(ids)} ids")
        print(f"  delete 10%      {count // 10 / deleting:10.0f} ids/s")


def _corpus_chunks(count: int, tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """``count`` windows of about ``tokens`` tokens of Electron's docs (shared/fixtures/corpus-small)."""
    words = " ".join(p.read_text() for p in sorted(CORPUS.rglob("*.md"))).split()
    chunks: list[str] = []
    start = 0
    while len(chunks) < count:
        end = start + 16
        while count_tokens(" ".join(words[start:end])) < tokens:
            end += 2
        chunks.append(" ".join(words[start:end]))
        start = end
    return chunks


def bench_model(chunks: int) -> None:
    """Print the local model's load time and chunks/s on ~215-token chunks of real documentation."""
    from lightfast_pipeline.embedders.local import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    texts = _corpus_chunks(chunks, 215, embedder.count_tokens)
    tokens = statistics.mean(embedder.count_tokens(t) for t in texts)
    started = time.perf_counter()
    embedder.embed_documents(texts[:1])
    load = time.perf_counter() - started
    started = time.perf_counter()
    embedder.embed_documents(texts)
    rate = chunks / (time.perf_counter() - started)
    print(f"local model {embedder.model}: load {load:.1f} s, {rate:.1f} chunks/s ({tokens:.0f} tokens/chunk)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vectors", type=int, default=20_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--model", action="store_true", help="also measure the local embedding model")
    parser.add_argument("--chunks", type=int, default=256)
    args = parser.parse_args()
    bench_lancedb(args.vectors, args.dimension)
    if args.model:
        bench_model(args.chunks)


if __name__ == "__main__":
    main()

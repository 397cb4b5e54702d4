"""Benchmark: the service API on the embedded default with the warm model.

Usage: ``.venv/bin/python -m benchmarks.api [--chunks 100000] [--runs 1000000] [--dagster-runs 100000]``
(``--dir D --reuse`` measures again on a home seeded before; ``--skip-search`` only the statistics).

1. ``POST /v1/search`` at 1, 8 and 32 concurrent clients over ``--chunks`` chunks in one LanceDB store
   (10 chunks per document): throughput, client latency p50/p95, the search function's own time
   (the ``Server-Timing`` header: the whole ``search()`` call in the server) and the API's overhead beyond it
   (client latency minus that time, per request: authentication, validation, threadpool, JSON, HTTP).
   Vectors are random unit vectors written straight into the store and the ledger: exact search cost depends on
   the number and dimension of vectors, not on their content, and embedding 100k chunks takes hours here. The
   query is embedded by the real model (``LIGHTFAST_EMBEDDER``, default local MiniLM), loaded once by the server.
2. The statistics endpoints over ``--runs`` synthetic runs in the warehouse (built by ``benchmarks.metrics``),
   and ``/v1/workspace/statistics`` and ``/v1/jobs/stats`` over the whole history (live) over ``--dagster-runs``
   runs in the instance's SQLite run storage (bulk rows in Dagster's own shape, ``benchmarks.jobs``):
   median and max of 20 requests after a warm-up, beside the median of the service function the endpoint calls
   (run in the benchmark's process), so the API's share is visible on a loaded machine too, and the ratio of
   the endpoint's median to the 100 ms goal.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support.api_server import free_port


def seed(home: Path, chunks: int, runs: int, dagster_runs: int) -> str:
    """Catalog, vectors, warehouse and run history of the benchmark; returns an admin key of workspace acme."""
    from sqlalchemy import insert

    from benchmarks import metrics
    from benchmarks.jobs import insert_runs
    from lightfast_pipeline.catalog.models import Chunk, Document, Repository
    from lightfast_pipeline.keys.service import create_key
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.stores.store import ensure_store
    from lightfast_pipeline.vectorstores.base import VectorRecord
    from lightfast_pipeline.workspaces.workspace import create_workspace, get_or_create_organization

    runtime = Runtime()
    started = time.perf_counter()
    with runtime.session() as session:
        workspace = create_workspace(session, "acme", organization=get_or_create_organization(session))
        store = ensure_store(session, workspace, "docs", runtime.embedder, runtime.settings.vector_backend)
        repository = Repository(
            uid="benchrepo", workspace_id=workspace.id, source_type="local", source_id="bench",
            full_name="acme/handbook", location=str(home), config_status="configured", store_id=store.id,
        )  # fmt: skip
        session.add(repository)
        session.flush()
        _, key = create_key(session, workspace="acme", role="admin", name="bench", actor="bench")
        namespace, store_id, repository_id = store.namespace, store.id, repository.id
    words = [
        "deploy",
        "webhook",
        "token",
        "cache",
        "index",
        "store",
        "vector",
        "schedule",
        "sensor",
        "release",
        "rollback",
        "queue",
    ]
    rng = random.Random(5)
    documents = chunks // 10
    with runtime.session() as session:
        session.execute(
            insert(Document),
            [
                {
                    "id": d + 1,
                    "uid": f"doc{d:06d}",
                    "store_id": store_id,
                    "repository_id": repository_id,
                    "path": f"docs/{d // 100:03d}/page-{d:06d}.md",
                    "blob_id": "0" * 40,
                    "content_hash": "0" * 64,
                    "config_hash": "0" * 64,
                    "title": f"Page {d}",
                    "chunk_count": 10,
                }
                for d in range(documents)
            ],
        )
    for start in range(0, chunks, 10_000):
        batch = range(start, min(start + 10_000, chunks))
        vectors = []
        for _ in batch:
            raw = [rng.gauss(0, 1) for _ in range(runtime.embedder.dimension)]
            norm = math.sqrt(sum(x * x for x in raw))
            vectors.append([x / norm for x in raw])
        ids = [f"benchrepo:doc{i // 10:06d}:{i:016x}" for i in batch]
        runtime.vector_store.upsert(
            namespace,
            [
                VectorRecord(id=vid, vector=vec, metadata={"repository": "benchrepo", "document": vid.split(":")[1]})
                for vid, vec in zip(ids, vectors, strict=True)
            ],
        )
        with runtime.session() as session:
            session.execute(
                insert(Chunk),
                [
                    {
                        "vector_id": vid,
                        "document_id": i // 10 + 1,
                        "store_id": store_id,
                        "repository_id": repository_id,
                        "chunk_index": i % 10,
                        "content_hash": f"{i:064x}",
                        "heading_path": f"Page {i // 10} > Section {i % 10}",
                        "text": f"Page {i // 10}\n\n" + " ".join(rng.choice(words) for _ in range(60)),
                    }
                    for i, vid in zip(batch, ids, strict=True)
                ],
            )
    print(f"seeded {chunks:,} chunks in {documents:,} documents in {time.perf_counter() - started:.0f} s")
    metrics.END = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # the 90 days end now: 24h/7d/30d hold runs
    metrics.build(home, runs)  # home/warehouse.duckdb with the dbt models (workspace slug acme)
    started = time.perf_counter()
    insert_runs(runtime.instance, dagster_runs)
    print(f"inserted {dagster_runs:,} Dagster runs in {time.perf_counter() - started:.0f} s")
    return key


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench_search(url: str, key: str, clients: int, requests: int) -> None:
    """``requests`` searches spread over ``clients`` threads, each with its own connection."""
    queries = [f"how to {a} the {b}" for a in ("deploy", "cache", "index", "rollback") for b in ("queue", "store")]
    latencies: list[float] = []
    overheads: list[float] = []
    searching: list[float] = []
    lock = threading.Lock()

    def client(count: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            for n in range(count):
                started = time.perf_counter()
                response = http.post("/v1/search", json={"query": queries[n % len(queries)], "top_k": 10})
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)
                    searching.append(float(response.headers["server-timing"].split("dur=")[1]))
                    overheads.append(elapsed - searching[-1])

    per_client = max(1, requests // clients)
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(per_client,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    figures = [len(latencies) / wall, percentile(latencies, 50), percentile(latencies, 95)]
    figures += [percentile(searching, 50), percentile(overheads, 50), percentile(overheads, 95)]
    print(f"{clients:>7} " + " ".join(f"{value:>9.1f}" for value in figures))


def median_ms(call: Callable[[], object], repeat: int = 20) -> tuple[float, float]:
    """Median and max milliseconds of ``repeat`` calls after one warm-up."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def bench_endpoint(http: httpx.Client, path: str, params: dict[str, str], function: Callable[[], object]) -> None:
    """The endpoint over HTTP, and the service function it calls, in this process."""
    median, worst = median_ms(lambda: http.get(path, params=params).raise_for_status())
    direct, _ = median_ms(function)
    print(f"{path + ' ' + str(params or ''):<58} {median:>8.1f} {worst:>8.1f} {direct:>9.1f} {median / 100:>7.2f}")


def stats_functions(home: Path) -> dict[str, Callable[[], object]]:
    """What each statistics endpoint calls, for the same workspace and ranges."""
    from lightfast_pipeline.metrics.ranges import parse_range
    from lightfast_pipeline.metrics.stats import health_tree, read_stats
    from lightfast_pipeline.runs import jobs
    from lightfast_pipeline.runtime import Runtime
    from lightfast_pipeline.workspaces.queries import workspace_statistics

    runtime = Runtime()
    warehouse = runtime.settings.warehouse_path
    with runtime.session() as session:
        from lightfast_pipeline.workspaces.workspace import find_workspace

        workspace_id = find_workspace(session, "acme").id

    def section(text: str, **asked: bool) -> Callable[[], object]:
        return lambda: read_stats(warehouse, parse_range(text), workspace="acme", summary=False, **asked)

    return {
        "statistics": lambda: workspace_statistics(runtime, workspace_id),
        "comparison": section("30d", compare=True),
        "percentiles": section("30d", percentiles=True),
        "timeseries7": section("7d", timeseries=True),
        "timeseries30": section("30d", timeseries=True),
        "health": lambda: health_tree(warehouse, parse_range("30d"), "acme"),
        "jobs": lambda: jobs.statistics(runtime.instance, "acme", timedelta(hours=24 * 31)),
    }


def new_key() -> str:
    """An admin key of workspace acme in an already seeded home (keys are never written to disk)."""
    from lightfast_pipeline.keys.service import create_key
    from lightfast_pipeline.runtime import Runtime

    with Runtime().session() as session:
        return create_key(session, workspace="acme", role="admin", name="bench-again", actor="bench")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--dagster-runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="--dir was seeded by an earlier run: measure only.")
    parser.add_argument("--skip-search", action="store_true", help="Only the statistics endpoints.")
    args = parser.parse_args()
    home = args.dir or Path(tempfile.mkdtemp(prefix="lightfast-api-bench-"))
    os.environ.update(LIGHTFAST_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), HF_HUB_OFFLINE="1")
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    key = new_key() if args.reuse else seed(home, args.chunks, args.runs, args.dagster_runs)

    import subprocess

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "lightfast_pipeline.cli", "serve", "--port", str(port), "--rate-limit", "100000000",
         "--burst", "100000000"],
        stdout=(home / "serve.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as http:
            if not args.skip_search:
                started = time.perf_counter()
                http.post("/v1/search", json={"query": "warm up"}).raise_for_status()
                print(f"first search (loads the model in the server): {time.perf_counter() - started:.1f} s")
            header = ("req/s", "p50 ms", "p95 ms", "search50", "over50", "over95")
            print(f"{'clients':>7} " + " ".join(f"{name:>9}" for name in header))
            for clients in () if args.skip_search else (1, 8, 32):
                bench_search(url, key, clients, args.requests if clients > 1 else args.requests // 2)
            print(f"{'endpoint':<58} {'median':>8} {'max':>8} {'function':>9} {'/ goal':>7}")
            endpoints = (
                ("/v1/workspace/statistics", {}),
                ("/v1/workspace/statistics/comparison", {"range": "30d"}),
                ("/v1/workspace/percentiles", {"range": "30d"}),
                ("/v1/workspace/timeseries", {"range": "7d"}),
                ("/v1/workspace/timeseries", {"range": "30d"}),
                ("/v1/workspace/health", {"range": "30d"}),
                ("/v1/jobs/stats", {"hours": str(24 * 31)}),  # the whole history: the runs span 30 days
            )
            for (path, params), function in zip(endpoints, stats_functions(home).values(), strict=True):
                bench_endpoint(http, path, params, function)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

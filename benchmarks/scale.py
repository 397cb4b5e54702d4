"""Benchmark: issue 15's size targets, each section printing its figures and, where a baseline runs in the
same process, the ratio to it.

- ``store``: 1,000,000 synthetic 384-dim vectors in one LanceDB namespace: exact search, the vector index
  build, indexed search p50/p95 and recall@10 against exact (numpy), repository-filtered search, a refresh.
  Vectors are clustered (4,000 centres + noise, unit length) like real embeddings; no model runs (the query
  embedding is excluded from every latency, as the target says).
- ``writer``: one process upserting ``--writer-vectors`` vectors in batches of ``--batch`` with the index policy
  (index built and refreshed by child processes) and with no index: its RSS as the table grows.
- ``stats``: the ``lightfast stats`` queries over 1,000,000 runs (``benchmarks.metrics`` data), each as the CLI
  runs it (fresh read-only connection), against the same runs in random physical order.
- ``jobs``: jobs statistics over a workspace's whole history at 100,000 runs in PostgreSQL.
- ``github``: a tree of > 100,000 entries served truncated by the local GitHub server, walked with 8 and
  with 1 concurrent listing.
- ``tree``: the local git source's listing and the run plan at 250,000 files, against 25,000 files.
- ``ingest``: the real ``lightfast ingest`` (a subprocess, hashing test embedder: embedding cost is not what
  this measures) of generated repositories at each size of ``--ingest-files``: a first run killed with SIGKILL
  (fault point ``before:commit``) in the batch that would pass ``--kill-at`` of the documents, the resumed run
  that completes the index (texts embedded counted: only what the killed run did not commit), then a no-op
  rerun (0 blobs read). Peak RSS of the run's own process comes from ``getrusage`` at its exit (not for a
  killed run), that of the process tree (with the vector index maintenance children) from ``wait4``: the
  larger of the run's own peak and its children's (Linux starts a child's ``ru_maxrss`` at its parent's RSS).

Usage: ``python -m benchmarks.scale [--sections store,stats,jobs,github,tree] [--vectors 1000000] ...``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

SECTIONS = ("store", "writer", "stats", "jobs", "github", "tree", "ingest")
NAMESPACE = "bench/scale"


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_ms(function: Callable[[], object]) -> float:
    """Wall time of one call in milliseconds."""
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def cpu_ms(function: Callable[[], object], repeat: int = 5) -> float:
    """Median CPU time (all threads of this process) of ``repeat`` calls, in ms: steadier than wall time on a
    shared machine."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        function()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


# -- store ------------------------------------------------------------------------------------------------------


class ClusteredVectors:
    """Reproducible unit vectors around ``centres`` random centres (embeddings cluster by topic)."""

    def __init__(self, dimension: int, centres: int = 4_000, noise: float = 0.6) -> None:
        self.dimension = dimension
        self.noise = noise
        self.centres = np.random.default_rng(0).standard_normal((centres, dimension)).astype(np.float32)

    def sample(self, count: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        picked = self.centres[rng.integers(0, len(self.centres), count)]
        vectors = picked + self.noise * rng.standard_normal((count, self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def repository_of(n: int) -> str:
    """100 repositories of 1% each, and ``tiny`` owning one row in 10,000."""
    return "tiny" if n % 10_000 == 7 else f"repo-{n % 100:02d}"


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[set[int]]:
    """Row numbers of the true top ``k`` by cosine (vectors are unit length), in query blocks."""
    tops: list[set[int]] = []
    for start in range(0, len(queries), 16):
        scores = queries[start : start + 16] @ vectors.T
        if mask is not None:
            scores[:, ~mask] = -np.inf
        best = np.argpartition(-scores, k, axis=1)[:, :k]
        tops.extend({int(i) for i in row if np.isfinite(scores[n, i])} for n, row in enumerate(best))
    return tops


def bench_store(count: int, dimension: int, queries: int, store_dir: Path | None = None) -> None:
    """Print exact vs indexed search figures for ``count`` vectors in one namespace.

    With ``store_dir``, the loaded and indexed table is kept there and a later run reuses it: only the indexed
    and filtered searches run again (delete the directory after changing the index policy).
    """
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

    print(f"== store: {count:,} synthetic {dimension}-dim vectors (clustered), LanceDB, one namespace")
    space = ClusteredVectors(dimension)
    with tempfile.TemporaryDirectory(prefix="lightfast-scale-") as tmp:
        directory = store_dir or Path(tmp)
        reuse = (directory / "complete").exists()
        uri = str(directory / "vectors")
        if reuse:
            vectors = np.concatenate(
                [space.sample(min(100_000, count - s), seed=s + 1) for s in range(0, count, 100_000)]
            )
            print(f"  reusing the loaded and indexed table in {directory}")
        else:
            vectors = _load_and_index(uri, space, count, dimension)
            (directory / "complete").touch()
        store = LanceDBVectorStore(uri)
        _indexed_searches(store, uri, space, vectors, queries)
        if not reuse and store_dir is None:
            _refresh(store, space, count, queries)
        del vectors


def _load_and_index(uri: str, space: ClusteredVectors, count: int, dimension: int) -> np.ndarray:
    """Bulk load ``count`` vectors, time exact search on the way, build the index; return the vectors."""
    import lance
    import lancedb
    import pyarrow as pa

    from lightfast_pipeline.vectorstores.lancedb_index import IndexPolicy
    from lightfast_pipeline.vectorstores.lancedb_maintenance import dataset_uri, segment_fragments
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore, table_name

    store = LanceDBVectorStore(uri)
    store.ensure_namespace(NAMESPACE, dimension)
    table = lancedb.connect(uri).open_table(table_name(NAMESPACE))
    vectors = np.empty((count, dimension), dtype=np.float32)
    started = time.perf_counter()
    exact_at: dict[int, list[float]] = {}
    probes = space.sample(10, seed=99)
    for start in range(0, count, 100_000):  # bulk load (setup): the store's upsert does ~22k/s
        block = space.sample(min(100_000, count - start), seed=start + 1)
        vectors[start : start + len(block)] = block
        rows = range(start, start + len(block))
        segment = IndexPolicy().segment_rows  # fragments no larger than what the writer's compaction leaves
        for offset in range(0, len(block), segment):
            part = rows[offset : offset + segment]
            table.add(
                pa.table(
                    {
                        "id": [f"{repository_of(n)}:d{n // 10}:{n:08x}" for n in part],
                        "vector": pa.FixedSizeListArray.from_arrays(
                            pa.array(block[offset : offset + segment].reshape(-1)), dimension
                        ),
                        "repository": [repository_of(n) for n in part],
                        "document": [f"d{n // 10}" for n in part],
                        "metadata": pa.nulls(len(part), pa.string()),
                    }
                )
            )
        loaded = start + len(block)
        if loaded in (100_000, count) or (loaded < 100_000 and loaded == count):
            exact_at[loaded] = [timed_ms(lambda p=p: store.query(NAMESPACE, p.tolist(), 10)) for p in probes]
    print(f"  bulk load {time.perf_counter() - started:.0f} s")
    small = store_small_exact(space, dimension, probes)
    for rows, samples in sorted({**small, **exact_at}.items()):
        print(
            f"  exact search at {rows:>9,} rows: p50 {percentile(samples, 0.5):7.1f} ms  p95 "
            f"{percentile(samples, 0.95):7.1f} ms"
        )
    started = time.perf_counter()
    action = store.maintain_index(NAMESPACE)
    build = time.perf_counter() - started
    state = store.index_state(NAMESPACE)
    segments = len(segment_fragments(lance.dataset(dataset_uri(uri, table_name(NAMESPACE))), str(state.index_name)))
    child_mb = store.maintenance_peak_mb  # not RUSAGE_CHILDREN: a child's ru_maxrss starts at its parent's RSS
    print(
        f"  index: {action} {state.index_name} in {build:.0f} s, {segments} segments, maintenance child peak RSS "
        f"{child_mb:.0f} MB, scalar indexes folded in (policy {IndexPolicy()})"
    )
    return vectors


def _indexed_searches(
    store: LanceDBVectorStore, uri: str, space: ClusteredVectors, vectors: np.ndarray, queries: int
) -> None:
    """Unfiltered and repository-filtered indexed searches: wall and CPU p50/p95, recall@10 against numpy."""
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

    asked = space.sample(queries, seed=7)
    cold = [timed_ms(lambda v=v: LanceDBVectorStore(uri).query(NAMESPACE, v.tolist(), 10)) for v in asked[:5]]
    print(f"  first search of a new store object (index read from disk): median {statistics.median(cold):.0f} ms")
    count = len(vectors)
    numbers = np.arange(count)
    tiny = numbers % 10_000 == 7
    cases = [("unfiltered", None, None, asked), ("repo-42", "repo-42", ~tiny & (numbers % 100 == 42), asked[:50])]
    cases.append(("tiny", "tiny", tiny, asked[:50]))
    for label, repository, mask, subset in cases:
        truth = exact_top(vectors, subset, 10, mask)
        where = {"repository": repository} if repository else None
        store.query(NAMESPACE, subset[0].tolist(), 10, where=where)  # handle and index pages warm
        latencies, cpu, recalls, foreign = [], [], [], 0
        for vector, true in zip(subset, truth, strict=True):
            started, started_cpu = time.perf_counter(), time.process_time()
            found = store.query(NAMESPACE, vector.tolist(), 10, where=where)
            latencies.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            foreign += sum(repository is not None and m.metadata["repository"] != repository for m in found)
            recalls.append(len(true & {int(m.id.rsplit(":", 1)[1], 16) for m in found}) / min(10, len(true)))
        rows = count if mask is None else int(mask.sum())
        goal = "goal p95 <= 50 ms, recall >= 0.95" if mask is None else "goal: recall 1.000, 0 foreign rows"
        print(
            f"  {label} ({rows:,} rows), {len(subset)} queries: wall p50 {percentile(latencies, 0.5):.1f} "
            f"p95 {percentile(latencies, 0.95):.1f} ms | CPU p50 {percentile(cpu, 0.5):.1f} "
            f"p95 {percentile(cpu, 0.95):.1f} ms | recall@10 {statistics.mean(recalls):.3f} | rows of other "
            f"repositories {foreign} ({goal}; load average {os.getloadavg()[0]:.1f})"
        )


def _refresh(store: LanceDBVectorStore, space: ClusteredVectors, count: int, queries: int) -> None:
    """12,000 rows upserted: the writer folds them into the index; searches after it."""
    from lightfast_pipeline.vectorstores.base import VectorRecord

    fresh = space.sample(12_000, seed=count + 1)
    records = [
        VectorRecord(f"new:d{n // 10}:{count + n:08x}", row.tolist(), {"repository": "new"})
        for n, row in enumerate(fresh)
    ]
    started = time.perf_counter()
    store.upsert(NAMESPACE, records)  # 12,000 unindexed rows pass refresh_unindexed: folded in by this writer
    state = store.index_state(NAMESPACE)
    print(
        f"  upsert of 12,000 rows incl. index refresh: {time.perf_counter() - started:.1f} s; "
        f"unindexed after: {state.unindexed_rows}"
    )
    asked = space.sample(queries, seed=7)
    latencies = [timed_ms(lambda v=v: store.query(NAMESPACE, v.tolist(), 10)) for v in asked[:50]]
    print(
        f"  indexed search after refresh: p50 {percentile(latencies, 0.5):.1f} ms  "
        f"p95 {percentile(latencies, 0.95):.1f} ms"
    )


def store_small_exact(space: ClusteredVectors, dimension: int, probes: np.ndarray) -> dict[int, list[float]]:
    """Exact search latency at the sizes around the index threshold (why ``min_rows`` is where it is)."""
    from lightfast_pipeline.vectorstores.base import VectorRecord
    from lightfast_pipeline.vectorstores.lancedb_index import IndexPolicy
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

    out: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lightfast-scale-") as tmp:
        store = LanceDBVectorStore(str(Path(tmp) / "v"), index_policy=IndexPolicy(min_rows=10**9))
        loaded = 0
        for size in (10_000, 25_000, 50_000):
            block = space.sample(size - loaded, seed=1_000 + size)
            store.upsert(
                "small",
                [VectorRecord(f"r:d:{loaded + n:08x}", v.tolist(), {"repository": "r"}) for n, v in enumerate(block)],
            )
            loaded = size
            out[size] = [timed_ms(lambda p=p: store.query("small", p.tolist(), 10)) for p in probes]
    return out


# -- writer -------------------------------------------------------------------------------------------------------


def bench_writer(count: int, dimension: int, batch: int) -> None:
    """RSS of one process upserting ``count`` clustered vectors in batches of ``batch`` (as an ingestion run
    writes), with the index policy (built and refreshed by child processes) and with no index, each in a fresh
    process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    print(f"== writer: one process upserting {count:,} {dimension}-dim vectors in batches of {batch}")
    for indexed in (True, False):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            samples, own, children, search = pool.submit(_writer_rss, count, dimension, batch, indexed).result()
        series = ", ".join(f"{rows:,}: {mb:.0f}" for rows, mb in samples)
        print(
            f"  {'index policy' if indexed else 'no index'}: RSS MB at rows {series}; peak {own:.0f} MB; "
            f"index maintenance children peak {children:.0f} MB; {search} (load {os.getloadavg()[0]:.1f})"
        )


def _writer_rss(
    count: int, dimension: int, batch: int, indexed: bool
) -> tuple[list[tuple[int, float]], float, float, str]:
    """(rows, RSS MB) every 9,900 rows, this process's peak RSS and its children's in MB, and the table's index
    and search latency at the end."""
    import resource

    from lightfast_pipeline.vectorstores.base import VectorRecord
    from lightfast_pipeline.vectorstores.lancedb_index import IndexPolicy
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore

    space = ClusteredVectors(dimension)
    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="lightfast-writer-") as tmp:
        policy = IndexPolicy() if indexed else IndexPolicy(min_rows=10**9)
        store = LanceDBVectorStore(str(Path(tmp) / "v"), index_policy=policy)
        for start in range(0, count, batch):
            block = space.sample(min(batch, count - start), seed=start + 1)
            numbers = range(start, start + len(block))
            store.upsert(
                NAMESPACE,
                [
                    VectorRecord(f"{repository_of(n)}:d{n // 10}:{n:08x}", v.tolist(), {"repository": repository_of(n)})
                    for n, v in zip(numbers, block, strict=True)
                ],
            )
            if (start + len(block)) // 9_900 > start // 9_900:
                samples.append((start + len(block), _rss_mb()))
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        state = store.index_state(NAMESPACE)
        latencies = [timed_ms(lambda v=v: store.query(NAMESPACE, v.tolist(), 10)) for v in space.sample(50, seed=7)]
        search = (
            f"index {state.index_name}, {state.unindexed_rows:,} rows unindexed; search p50 "
            f"{percentile(latencies, 0.5):.0f} / p95 {percentile(latencies, 0.95):.0f} ms"
        )
    return samples, own, store.maintenance_peak_mb, search


def _rss_mb() -> float:
    """This process's resident set now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- stats --------------------------------------------------------------------------------------------------------


def bench_stats(runs: int) -> None:
    """Each stats query over ``runs`` runs in load order, against the same runs in random physical order."""
    import duckdb

    from benchmarks.metrics import END, build, cold, timed
    from lightfast_pipeline.metrics import stats
    from lightfast_pipeline.metrics.ranges import StatsRange

    print(f"== stats: {runs:,} runs in the DuckDB warehouse, each query on a fresh read-only connection (as the CLI)")
    directory = Path(tempfile.mkdtemp(prefix="lightfast-scale-"))
    try:
        loaded = build(directory, runs)
        shuffled = directory / "shuffled.duckdb"
        shutil.copyfile(loaded, shuffled)
        with duckdb.connect(str(shuffled)) as con:
            con.execute("create temp table shuffled as select * from raw.runs order by hash(run_id)")
            con.execute("delete from raw.runs")
            con.execute("insert into raw.runs select * from shuffled")
            con.execute("checkpoint")
        connect = timed(lambda: duckdb.connect(str(loaded), read_only=True).close())
        print(f"  opening + closing a read-only connection alone: {connect:.1f} ms (DuckDB instance start)")
        sections = {
            "jobs": stats.jobs_section,
            "percentiles": stats.percentiles_section,
            "timeseries": stats.timeseries_section,
            "comparison": stats.comparison_section,
            "health": lambda con: stats.health_section(con, None),
        }
        print(
            f"  {'range':<6}{'query':<13}{'CLI ms':>8}{'open conn. ms':>15}{'CPU ms':>9}{'random order CLI ms':>21}"
            f"{'ratio':>7}"
        )
        for name, days in (("24h", 1), ("7d", 7), ("30d", 30)):
            window = StatsRange(END - timedelta(days=days), END)
            with stats.read_models(loaded, window) as open_connection:
                for section, read in sections.items():
                    cli, shuffled_cli = (
                        timed(cold(lambda path=path, read=read, window=window: _read(stats, path, window, read)))
                        for path in (loaded, shuffled)
                    )
                    alone = timed(lambda read=read: read(open_connection))
                    cpu = cpu_ms(lambda read=read: read(open_connection))
                    figures = f"{cli:>8.1f}{alone:>15.1f}{cpu:>9.1f}{shuffled_cli:>21.1f}{cli / shuffled_cli:>7.2f}"
                    print(f"  {name:<6}{section:<13}{figures}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _read(stats: Any, path: Path, window: Any, read: Callable[[Any], object]) -> object:
    with stats.read_models(path, window) as con:
        return read(con)


# -- jobs ---------------------------------------------------------------------------------------------------------


def bench_jobs(runs: int) -> None:
    """Jobs statistics over a workspace's whole history in PostgreSQL run storage."""
    import os
    import uuid

    from dagster import DagsterInstance
    from sqlalchemy.engine import make_url

    from benchmarks.jobs import analyze, insert_runs
    from benchmarks.jobs import timed as timed_max
    from lightfast_pipeline.runs import jobs
    from tests.support.postgres import (
        URL_VARIABLE,
        create_database,
        deploy_environment,
        drop_database,
        start_server,
        write_deploy_instance,
    )

    print(f"== jobs: {runs:,} runs in PostgreSQL run storage (90% in workspace acme, 30 days)")
    server = None if os.environ.get(URL_VARIABLE) else start_server()
    admin = os.environ.get(URL_VARIABLE) or server.url.render_as_string(hide_password=False)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    url = create_database(make_url(admin), name).render_as_string(hide_password=False)
    scratch = Path(tempfile.mkdtemp(prefix="lightfast-scale-"))
    try:
        os.environ.update(deploy_environment(url))
        write_deploy_instance(scratch)
        os.environ["DAGSTER_HOME"] = str(scratch)
        with DagsterInstance.get() as instance:
            insert_runs(instance, runs)
            analyze(url)
            for label in ("new connection per query (CLI)", "pooled connection (webserver)"):
                if label.startswith("pooled"):
                    instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=5)
                for window, days in (("24 h", 1), ("whole history", 31)):
                    median, worst = timed_max(lambda d=days: jobs.statistics(instance, "acme", timedelta(days=d)))
                    print(f"  stats {window:<14} {label:<32} median {median:6.1f} ms  max {worst:6.1f} ms")
    finally:
        drop_database(make_url(admin), name)
        shutil.rmtree(scratch, ignore_errors=True)
        if server is not None:
            server.stop()


# -- github -------------------------------------------------------------------------------------------------------


def bench_github(pages: int) -> None:
    """A truncated tree walked by the GitHub source with 8 and with 1 concurrent listing."""
    import os

    from lightfast_pipeline.settings import load_github_settings
    from lightfast_pipeline.sources.github import GitHubSource, github_source
    from tests.support.github_fixtures import APP_ID, app_key_pair
    from tests.support.github_server import GitHubServer
    from tests.support.large_repo import generate_repository

    directory = Path(tempfile.mkdtemp(prefix="lightfast-scale-"))
    private, public = app_key_pair()
    server = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    try:
        files = generate_repository(directory / "handbook", pages)
        server.add_repository("acme/handbook", directory / "handbook", repo_id=1, installation_id=7)
        server.switches.truncate_trees_over = 100_000  # GitHub's limit per recursive listing
        os.environ.update({"GITHUB_APP_ID": APP_ID, "GITHUB_APP_PRIVATE_KEY": private, "GITHUB_API_URL": server.url})
        print(f"== github: {files:,} files served by the local GitHub server, recursive listings truncated at 100,000")
        client = github_source(load_github_settings(), "acme/handbook", installation_id="7").client
        head = GitHubSource(client, "acme/handbook").head_commit()
        walls = {}
        for workers in (8, 1):
            source = GitHubSource(client, "acme/handbook", max_workers=workers)
            before, calls = len(server.paths()), client.api_calls
            started = time.perf_counter()
            listed = len(source.tree(head))
            walls[workers] = time.perf_counter() - started
            trees = sum("/git/trees/" in p for p in server.paths()[before:])
            print(
                f"  {workers} concurrent listing(s): {listed:,} files in {walls[workers]:.1f} s, "
                f"{client.api_calls - calls} API calls ({trees} tree listings)"
            )
        print(f"  ratio 8 / 1 listings: {walls[8] / walls[1]:.2f}")
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


# -- tree ---------------------------------------------------------------------------------------------------------


def bench_tree(files: int) -> None:
    """The local git source's listing and the run plan (initial and no-op) at ``files`` and a tenth of it.

    As a run plans (``ingestion/tree_plan.py``): the tree streamed through the config filter and merged with
    the catalog's documents in path order (here a second listing of the tree stands for the catalog stream),
    the files to read appended to the plan's on-disk list. Python memory from ``tracemalloc``.
    """
    from lightfast_pipeline.config.detect import parse_config
    from lightfast_pipeline.index.plan import KnownDocument, merge_tree, pair_renames
    from lightfast_pipeline.ingestion.reads import PlannedReads
    from lightfast_pipeline.sources.local_git import LocalGitSource
    from tests.support.large_repo import CONFIG, generate_repository

    print(f"== tree: local git listing and run plan, {files:,} pages (+10% excluded files) against {files // 10:,}")
    config = parse_config(CONFIG)
    directory = Path(tempfile.mkdtemp(prefix="lightfast-scale-"))
    figures: dict[int, tuple[float, float, float]] = {}
    try:
        for pages in (files // 10, files):
            path = directory / f"repo-{pages}"
            generate_repository(path, pages)
            source = LocalGitSource(path)
            head = source.head_commit()

            def selected(source: LocalGitSource = source, head: str = head) -> Iterator[Any]:
                return (entry for entry in source.tree(head) if config.matches(entry.path))

            def plan(known: Iterator[tuple[str, KnownDocument]]) -> tuple[PlannedReads, int, float, float]:
                """Plan under tracemalloc: the reads, the unchanged count, seconds, peak MB."""
                tracemalloc.start()
                started = time.perf_counter()
                reads = PlannedReads()
                merged = merge_tree(selected(), known, {}, "h", reads.append)
                new = ((read.path, read.blob_id) for read in reads if read.known_uid is None)
                pair_renames(new, merged.vanished, "h")
                seconds = time.perf_counter() - started
                _held, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                return reads, merged.unchanged, seconds, peak / 1e6

            tracemalloc.start()
            started = time.perf_counter()
            listed = sum(1 for _entry in source.tree(head))
            listing = time.perf_counter() - started
            _held, listing_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            reads, _unchanged, initial, initial_peak = plan(iter(()))
            on_disk = reads.bytes_on_disk
            assert len(reads) == pages
            reads.close()
            known = ((entry.path, KnownDocument(entry.blob_id, "h", "u" * 32)) for entry in selected())
            noop_reads, unchanged, rerun, noop_peak = plan(known)
            assert unchanged == pages and not len(noop_reads)
            figures[pages] = (listing_peak / 1e6, initial_peak, noop_peak)
            print(
                f"  {listed:>9,} entries: tree() streamed {listing:5.1f} s, peak {listing_peak / 1e6:5.1f} MB; "
                f"initial plan {initial:5.1f} s, peak {initial_peak:5.1f} MB ({pages:,} files to read: "
                f"{on_disk / 1e6:.1f} MB on disk); no-op plan {rerun:5.1f} s, peak {noop_peak:5.1f} MB (0 to read)"
            )
        small, large = figures[files // 10], figures[files]
        print(
            f"  peak ratio {files:,} / {files // 10:,}: listing {large[0] / small[0]:.2f}, initial plan "
            f"{large[1] / small[1]:.2f}, no-op plan {large[2] / small[2]:.2f}"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- ingest -----------------------------------------------------------------------------------------------------


_OWN_PEAK = """
import atexit, os, resource, runpy, sys
path = os.environ.pop("LIGHTFAST_BENCH_OWN_RSS")
atexit.register(lambda: open(path, "w").write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
sys.argv[0] = "lightfast"
runpy.run_module("lightfast_pipeline.cli", run_name="__main__")
"""


def _lightfast(args: list[str], env: dict[str, str]) -> tuple[int, float, float, float | None, str]:
    """Run ``lightfast *args``; returns (exit status or -signal, wall seconds, peak RSS in MB of the process tree,
    of the process alone (None if it was killed), stdout)."""
    import subprocess
    import sys

    own = Path(tempfile.mkdtemp(prefix="lightfast-rss-")) / "own"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", _OWN_PEAK, *args],
        env={**env, "LIGHTFAST_BENCH_OWN_RSS": str(own)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    alone = int(own.read_text()) / 1024 if own.exists() else None
    shutil.rmtree(own.parent, ignore_errors=True)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024, alone, out


def _peaks(tree: float, alone: float | None) -> str:
    own = "?" if alone is None else f"{alone:5.0f}"
    return f"peak RSS {own} MB alone, {tree:5.0f} MB with its children"


_TRUTH = """
import resource, time, tracemalloc
from sqlalchemy import select
from lightfast_pipeline.catalog.models import Repository
from lightfast_pipeline.cli.common import get_runtime
from lightfast_pipeline.ingestion.verify import index_truth
from lightfast_pipeline.sources.factory import source_for
runtime = get_runtime()
with runtime.session() as session:
    repository = session.scalars(select(Repository)).one()
    source, repository_id = source_for(repository, runtime.settings), repository.id
started = time.perf_counter()
index_truth(runtime, repository_id, source)  # imports and connections: not the check's heap
untraced = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
started = time.perf_counter()
truth = index_truth(runtime, repository_id, source)
print(truth.ok, truth.store, tracemalloc.get_traced_memory()[1] / 1e6, time.perf_counter() - started, rss, untraced)
"""


def _truth_memory(env: dict[str, str]) -> str:
    """The end-of-run index-truth check alone (source read, not deep), in a fresh process: its peak RSS after a
    first call (imports and connections included), then the Python heap peak of a second call under
    tracemalloc."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _TRUTH], env=env, capture_output=True, text=True, check=True)
    ok, vectors, peak, seconds, rss, untraced = done.stdout.split()
    return (
        f"index truth alone: ok {ok}, {int(vectors):,} vectors, Python heap peak {float(peak):.0f} MB "
        f"({float(seconds):.1f} s traced), process peak RSS {float(rss):.0f} MB ({float(untraced):.1f} s)"
    )


def bench_ingest(sizes: list[int], batch: int, kill_at: float) -> None:
    """Killed initial run, resumed run, no-op rerun of ``lightfast ingest`` at each size (see module doc)."""
    import json
    import math

    from tests.support.embedders import embedded_texts_logged
    from tests.support.large_repo import generate_repository

    print(f"== ingest: lightfast ingest of generated repositories, batches of {batch}, killed at {kill_at:.0%}")
    directory = Path(tempfile.mkdtemp(prefix="lightfast-ingest-"))
    peaks: dict[int, tuple[float, float]] = {}  # pages -> (peak alone, peak with children) of the completing runs
    try:
        for pages in sizes:
            repo, home, log = directory / f"repo-{pages}", directory / f"home-{pages}", directory / f"log-{pages}"
            files = generate_repository(repo, pages)
            env = {
                **os.environ,
                "LIGHTFAST_HOME": str(home),
                "DAGSTER_HOME": str(home / "dagster"),
                "LIGHTFAST_EMBEDDER": "tests.support.embedders:HashingEmbedder",
                "LIGHTFAST_INGEST_BATCH": str(batch),
                "LIGHTFAST_TEST_EMBED_LOG": str(log),
                "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            }
            (home / "dagster").mkdir(parents=True)
            assert _lightfast(["repo", "connect", str(repo)], env)[0] == 0
            print(f"  {pages:,} pages ({files:,} files), load {os.getloadavg()[0]:.1f}:")
            rss: list[tuple[float, float]] = []
            if kill_at > 0:
                batches = math.ceil(pages / batch)
                killed_in = min(batches, max(1, math.floor(batches * kill_at) + 1))
                committed = (killed_in - 1) * batch
                code, wall, tree, alone, _ = _lightfast(
                    ["ingest", str(repo), "--json"], {**env, "LIGHTFAST_FAULT": f"before:commit:batch={killed_in}"}
                )
                embedded = embedded_texts_logged(log)
                print(
                    f"    killed run: exit {code}, {wall:6.1f} s, {_peaks(tree, alone)}; killed before committing "
                    f"batch {killed_in}/{batches} ({committed:,} documents committed, {embedded:,} texts embedded)"
                )
                log.unlink(missing_ok=True)
            code, wall, tree, alone, out = _lightfast(["ingest", str(repo), "--json"], env)
            assert alone is not None
            rss.append((alone, tree))
            summary = json.loads(out)
            embedded = embedded_texts_logged(log)
            print(
                f"    {'resumed' if kill_at > 0 else 'initial'} run: {summary['status']}, {wall:6.1f} s, "
                f"{_peaks(tree, alone)}; documents {summary['documents']}, texts embedded {embedded:,}"
                + (f" (expected {pages - committed:,})" if kill_at > 0 else "")
            )
            log.unlink(missing_ok=True)
            code, wall, tree, alone, out = _lightfast(["ingest", str(repo), "--json"], env)
            assert alone is not None
            rss.append((alone, tree))
            summary = json.loads(out)
            print(
                f"    no-op rerun: {summary['status']}, {wall:6.1f} s, {_peaks(tree, alone)}, blobs read "
                f"{summary.get('blobs_read', '?')}, texts embedded {embedded_texts_logged(log):,}, load "
                f"{os.getloadavg()[0]:.1f}"
            )
            print(f"    {_truth_memory(env)} (tracemalloc), load {os.getloadavg()[0]:.1f}")
            peaks[pages] = (max(a for a, _ in rss), max(t for _, t in rss))
            shutil.rmtree(repo, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
        smallest = min(peaks)
        for pages, (alone, tree) in sorted(peaks.items()):
            base_alone, base_tree = peaks[smallest]
            print(
                f"  peak RSS at {pages:,} (completing runs): {alone:5.0f} MB alone, {alone / base_alone:.2f} times the "
                f"peak at {smallest:,}; {tree:5.0f} MB with its children (index maintenance, git), "
                f"{tree / base_tree:.2f} times"
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--store-dir", type=Path, default=None, help="keep (and reuse) the indexed store here")
    parser.add_argument("--writer-vectors", type=int, default=50_100, help="vectors upserted (writer)")
    parser.add_argument("--runs", type=int, default=1_000_000, help="warehouse runs (stats)")
    parser.add_argument("--job-runs", type=int, default=100_000, help="PostgreSQL runs (jobs)")
    parser.add_argument("--github-pages", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=250_000)
    parser.add_argument("--ingest-files", default="25000,250000", help="comma-separated page counts (ingest)")
    parser.add_argument("--batch", type=int, default=300, help="documents per batch (ingest, writer)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of documents; 0: no killed run")
    args = parser.parse_args()
    chosen = args.sections.split(",")
    print(f"machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB; load average {os.getloadavg()[0]:.1f}")
    if "store" in chosen:
        bench_store(args.vectors, args.dimension, args.queries, args.store_dir)
    if "writer" in chosen:
        bench_writer(args.writer_vectors, args.dimension, args.batch)
    if "stats" in chosen:
        bench_stats(args.runs)
    if "jobs" in chosen:
        bench_jobs(args.job_runs)
    if "github" in chosen:
        bench_github(args.github_pages)
    if "tree" in chosen:
        bench_tree(args.files)
    if "ingest" in chosen:
        bench_ingest([int(size) for size in args.ingest_files.split(",")], args.batch, args.kill_at)


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


if __name__ == "__main__":
    main()

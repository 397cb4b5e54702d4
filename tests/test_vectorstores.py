"""Vector stores: one contract run against LanceDB (tmp dir) and Pinecone (official client, local server),
plus LanceDB under concurrent processes and kill -9, and Pinecone request sizing."""

from __future__ import annotations

import math
import multiprocessing
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path

import pytest

from lightfast_pipeline.settings import load_settings
from lightfast_pipeline.vectorstores import lancedb_store
from lightfast_pipeline.vectorstores.base import VectorRecord, VectorStore, VectorStoreError
from lightfast_pipeline.vectorstores.factory import build_vector_store
from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore, table_name
from lightfast_pipeline.vectorstores.pinecone_store import PineconeVectorStore
from tests.support.fake_pinecone import MAX_BODY_BYTES, FakePinecone
from tests.support.provider_fixtures import FAKE_PINECONE_DIMENSION, FAKE_PINECONE_KEY

DIM = FAKE_PINECONE_DIMENSION
NS = "acme/handbook"


def unit(*values: float) -> list[float]:
    """An 8-dimensional unit vector from the leading values."""
    padded = list(values) + [0.0] * (DIM - len(values))
    norm = math.sqrt(sum(v * v for v in padded))
    return [v / norm for v in padded]


def record(vid: str, vector: list[float], repository: str = "repo1", document: str = "doc1") -> VectorRecord:
    return VectorRecord(id=vid, vector=vector, metadata={"repository": repository, "document": document})


@pytest.fixture(params=["lancedb", "pinecone"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """Each contract test runs against both backends."""
    if request.param == "lancedb":
        yield LanceDBVectorStore(str(tmp_path / "vectors"))
    else:
        server: FakePinecone = request.getfixturevalue("fake_pinecone")
        yield PineconeVectorStore(FAKE_PINECONE_KEY, server.url)


# -- contract ------------------------------------------------------------------------------------------------


def test_upsert_fetch_count(store: VectorStore) -> None:
    store.ensure_namespace(NS, DIM)
    store.upsert(NS, [record("r:a:1", unit(1)), record("r:a:2", unit(0, 1))])
    fetched = store.fetch(NS, ["r:a:1", "r:a:2", "r:missing"])
    assert set(fetched) == {"r:a:1", "r:a:2"}
    assert fetched["r:a:1"] == pytest.approx(unit(1))
    assert store.count(NS) == 2


def test_upsert_replaces_by_id_and_last_repeat_wins(store: VectorStore) -> None:
    store.upsert(NS, [record("r:a:1", unit(1), document="old")])
    store.upsert(NS, [record("r:a:1", unit(0, 1), document="mid"), record("r:a:1", unit(0, 0, 1), document="new")])
    assert store.count(NS) == 1
    assert store.fetch(NS, ["r:a:1"])["r:a:1"] == pytest.approx(unit(0, 0, 1))
    [match] = store.query(NS, unit(0, 0, 1), top_k=5)
    assert match.metadata["document"] == "new"


def test_delete_ignores_unknown_ids_and_namespaces(store: VectorStore) -> None:
    store.upsert(NS, [record(f"r:a:{i}", unit(1, i)) for i in range(5)])
    store.delete(NS, ["r:a:1", "r:a:3", "r:unknown"])
    store.delete("never-created", ["r:a:1"])
    store.delete(NS, [])
    assert sorted(store.list_ids(NS)) == ["r:a:0", "r:a:2", "r:a:4"]


def test_list_ids_by_prefix_across_pages(store: VectorStore) -> None:
    ids = [f"repo1:doc{i % 3}:{i:04d}" for i in range(250)] + [f"repo2:doc0:{i:04d}" for i in range(10)]
    store.upsert(NS, [record(vid, unit(1, i)) for i, vid in enumerate(ids)])
    assert sorted(store.list_ids(NS)) == sorted(ids)
    assert sorted(store.list_ids(NS, "repo1:doc1:")) == sorted(v for v in ids if v.startswith("repo1:doc1:"))
    assert sorted(store.list_ids(NS, "repo2:")) == sorted(v for v in ids if v.startswith("repo2:"))
    assert list(store.list_ids(NS, "repo3:")) == []
    assert list(store.list_ids("never-created")) == []


def test_query_ranks_by_cosine(store: VectorStore) -> None:
    store.upsert(
        NS,
        [
            record("near", unit(1, 0.1)),
            record("mid", unit(1, 1)),
            record("far", unit(0, 0, 1)),
            record("opp", unit(-1)),
        ],
    )
    matches = store.query(NS, unit(1), top_k=3)
    assert [m.id for m in matches] == ["near", "mid", "far"]
    assert matches[0].score == pytest.approx(1 / math.sqrt(1.01), abs=1e-5)
    assert matches[1].score == pytest.approx(1 / math.sqrt(2), abs=1e-5)
    assert matches[2].score == pytest.approx(0.0, abs=1e-5)
    assert matches[0].metadata == {"repository": "repo1", "document": "doc1"}
    assert store.query("never-created", unit(1), top_k=3) == []


def test_query_filters_on_metadata(store: VectorStore) -> None:
    store.upsert(
        NS,
        [
            record("r1:d1:1", unit(1), "r1", "d1"),
            record("r1:d2:1", unit(1, 0.2), "r1", "d2"),
            record("r2:d3:1", unit(1, 0.1), "r2", "d3"),
        ],
    )
    assert [m.id for m in store.query(NS, unit(1), 10, where={"repository": "r1"})] == ["r1:d1:1", "r1:d2:1"]
    assert [m.id for m in store.query(NS, unit(1), 10, where={"repository": "r1", "document": "d2"})] == ["r1:d2:1"]
    assert store.query(NS, unit(1), 10, where={"repository": "it's-none"}) == []
    with pytest.raises(VectorStoreError, match="cannot filter on"):
        store.query(NS, unit(1), 10, where={"path": "x"})


def test_namespaces_are_isolated_and_drop_removes_one(store: VectorStore) -> None:
    store.upsert("ws-a/docs", [record("same-id", unit(1))])
    store.upsert("ws-b/docs", [record("same-id", unit(0, 1)), record("other", unit(0, 1))])
    assert store.fetch("ws-a/docs", ["same-id"])["same-id"] == pytest.approx(unit(1))
    assert [m.id for m in store.query("ws-a/docs", unit(0, 1), 10)] == ["same-id"]
    store.drop_namespace("ws-b/docs")
    store.drop_namespace("never-created")
    assert list(store.list_ids("ws-b/docs")) == []
    assert store.count("ws-b/docs") == 0
    assert list(store.list_ids("ws-a/docs")) == ["same-id"]


def test_bad_input_is_a_clear_error(store: VectorStore) -> None:
    with pytest.raises(VectorStoreError, match="namespace must not be empty"):
        store.upsert("", [record("a", unit(1))])
    store.upsert(NS, [record("a", unit(1))])
    with pytest.raises(VectorStoreError):
        store.upsert(NS, [VectorRecord("b", [1.0, 0.0], {})])
    with pytest.raises(VectorStoreError):
        store.ensure_namespace(NS, DIM + 1)
    assert list(store.list_ids(NS)) == ["a"]


def test_fixed_dimension_is_the_pinecone_index_dimension(store: VectorStore) -> None:
    # A Pinecone index has one dimension for every namespace; each LanceDB namespace is a table of its own.
    assert store.fixed_dimension() == (DIM if store.backend == "pinecone" else None)


# -- LanceDB specifics ---------------------------------------------------------------------------------------


def test_lancedb_table_names_are_safe_and_distinct(tmp_path: Path) -> None:
    names = {table_name(ns) for ns in ["a/b", "a_b", "A/B", "../../etc", "x" * 300, "ünïcode"]}
    assert len(names) == 6
    assert all(name.replace("_", "").replace("-", "").isalnum() and len(name) < 80 for name in names)
    vectors = LanceDBVectorStore(str(tmp_path / "v"))
    vectors.upsert("../../etc", [record("it's", unit(1))])
    assert list(vectors.list_ids("../../etc", "it'")) == ["it's"]
    vectors.delete("../../etc", ["it's"])
    assert vectors.count("../../etc") == 0
    assert [p.name for p in tmp_path.iterdir()] == ["v"]


def test_lancedb_optimize_replaces_the_id_btree_with_a_bloom_filter_and_keeps_data(tmp_path: Path) -> None:
    from lancedb.index import BTree

    vectors = LanceDBVectorStore(str(tmp_path / "v"))
    for round_ in range(3):
        vectors.upsert(NS, [record(f"id{i}", unit(1, i + round_)) for i in range(600)])
    vectors.delete(NS, [f"id{i}" for i in range(100)])
    table = vectors._db.open_table(table_name(NS))
    assert not any(index.columns == ["id"] for index in table.list_indices())  # LanceDB cannot make a bloom filter
    table.create_index("id", config=BTree())  # what older versions made with the table
    versions_before = len(table.list_versions())
    with pytest.warns(UserWarning, match="removes every version"):
        assert len(vectors.optimize(cleanup_older_than=timedelta(0))) == 1
    table = vectors._db.open_table(table_name(NS))
    assert len(table.list_versions()) < versions_before
    [on_id] = [index for index in table.list_indices() if index.columns == ["id"]]
    assert on_id.index_type == "BloomFilter"
    assert table.index_stats(on_id.name).num_unindexed_rows == 0
    assert "id_idx(BloomFilter)" in table.search().where(lancedb_store._id_in(["id5"])).explain_plan(True)
    assert sorted(vectors.list_ids(NS)) == sorted(f"id{i}" for i in range(100, 600))
    assert set(vectors.fetch(NS, ["id5", "id100", "id599", "nope"])) == {"id100", "id599"}
    vectors.upsert(NS, [record("id100", unit(2, 0)), record("id600", unit(2, 1))])  # one known, one new
    assert vectors.count(NS) == 501
    assert vectors.fetch(NS, ["id100"])["id100"] == pytest.approx(unit(2, 0))


def test_lancedb_lists_every_id_across_its_read_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lancedb_store, "LIST_BATCH", 7)
    vectors = LanceDBVectorStore(str(tmp_path / "v"))
    ids = [f"repo{i % 2}:doc:{i:03d}" for i in range(100)]
    vectors.upsert(NS, [record(vid, unit(1, i)) for i, vid in enumerate(ids)])
    assert sorted(vectors.list_ids(NS, "repo1:")) == [vid for vid in ids if vid.startswith("repo1:")]


def test_lancedb_sees_a_namespace_dropped_and_recreated_elsewhere(tmp_path: Path) -> None:
    first, second = LanceDBVectorStore(str(tmp_path / "v")), LanceDBVectorStore(str(tmp_path / "v"))
    first.upsert(NS, [record("old", unit(1))])
    assert list(first.list_ids(NS)) == ["old"]
    second.drop_namespace(NS)
    second.upsert(NS, [record("new", unit(0, 1))])
    assert list(first.list_ids(NS)) == ["new"]
    assert [m.id for m in first.query(NS, unit(1), 5)] == ["new"]


def test_lancedb_writer_cache_evicts_old_versions(tmp_path: Path) -> None:
    """Every upsert is a table version whose metadata LanceDB caches (issue 15: a writer's caches grew with every
    batch of a run); capped caches stay within their caps however many versions pass (searches have their own
    connection), where LanceDB's default caps keep them all."""
    cap = 256 << 10
    capped = LanceDBVectorStore(str(tmp_path / "capped"), index_cache_bytes=cap, metadata_cache_bytes=cap)
    default = LanceDBVectorStore(str(tmp_path / "default"), index_cache_bytes=6 << 30, metadata_cache_bytes=1 << 30)
    for batch in range(40):
        rows = [record(f"r:d{batch}:{i}", unit(1, batch, i)) for i in range(100)]
        for vectors in (capped, default):
            vectors.upsert(NS, rows)
            vectors.fetch(NS, [rows[0].id])
        assert [m.id for m in capped.query(NS, rows[0].vector, 1)] == [rows[0].id]
    assert capped.count(NS) == default.count(NS) == 4_000
    assert capped.cache_bytes <= 2 * cap < default.cache_bytes


def test_lancedb_appends_new_ids_and_merges_only_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upsert of ids the table lacks is an append: ``merge_insert``'s working memory grew with the rows its id
    index did not cover yet (issue 15: +54 to +73 MB an upsert of 300 at 10,000 unindexed rows). Ids already
    there are still merged, so none is written twice."""
    from lancedb.merge import LanceMergeInsertBuilder

    merged: list[int] = []
    execute = LanceMergeInsertBuilder.execute

    def counting(builder: LanceMergeInsertBuilder, data, *args, **kwargs):
        merged.append(data.num_rows)
        return execute(builder, data, *args, **kwargs)

    monkeypatch.setattr(LanceMergeInsertBuilder, "execute", counting)
    monkeypatch.setattr(lancedb_store, "DELETE_BATCH", 7)  # probes across several IN lists
    vectors = LanceDBVectorStore(str(tmp_path / "v"))
    vectors.upsert(NS, [record(f"id{i:02d}", unit(1, i)) for i in range(30)])
    assert merged == []
    vectors.upsert(NS, [record(f"id{i:02d}", unit(0, 1, i), document="new") for i in range(20, 40)])
    assert merged == [10]
    assert sorted(vectors.list_ids(NS)) == [f"id{i:02d}" for i in range(40)]
    assert vectors.fetch(NS, ["id25"])["id25"] == pytest.approx(unit(0, 1, 25))
    assert vectors.count(NS) == 40


def _writer(uri: str, name: str, rounds: int, start: Barrier) -> None:
    """Upsert shared + own ids each round (commits of 500), then delete the upper half of own and other's."""
    vectors = LanceDBVectorStore(uri, write_batch=500)
    rng = random.Random(name)
    shared = [f"shared:{i:04d}" for i in range(1000)]
    own = [f"{name}:{i:04d}" for i in range(2000)]
    other = "b" if name == "a" else "a"
    start.wait()
    for _ in range(rounds):
        batch = shared + own
        rng.shuffle(batch)
        vectors.upsert(NS, [record(vid, unit(1, rng.random()), name) for vid in batch])
        vectors.delete(NS, own[1000:] + [f"{other}:{i:04d}" for i in range(1000, 2000)])


def _reader(uri: str, start: Barrier, done: Event) -> None:
    """Query and list until the writers finish (at least 3 times); exit 1 on an error or a duplicated id."""
    vectors = LanceDBVectorStore(uri)
    start.wait()
    reads = 0
    while not done.is_set() or reads < 3:
        ids = list(vectors.list_ids(NS))
        assert len(ids) == len(set(ids)), "duplicate ids seen by a reader"
        vectors.query(NS, unit(1), top_k=5)
        reads += 1


def test_lancedb_two_writer_processes_and_a_reader(tmp_path: Path) -> None:
    uri = str(tmp_path / "v")
    LanceDBVectorStore(uri).ensure_namespace(NS, DIM)
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Barrier(4), ctx.Event()
    writers = [ctx.Process(target=_writer, args=(uri, name, 3, start)) for name in ("a", "b")]
    reader = ctx.Process(target=_reader, args=(uri, start, done))
    for process in [*writers, reader]:
        process.start()
    start.wait(timeout=120)  # every process has imported lancedb: start together
    for process in writers:
        process.join(timeout=240)
    done.set()
    reader.join(timeout=60)
    assert [p.exitcode for p in [*writers, reader]] == [0, 0, 0]

    expected = (
        {f"shared:{i:04d}" for i in range(1000)}
        | {f"a:{i:04d}" for i in range(1000)}
        | {f"b:{i:04d}" for i in range(1000)}
    )
    ids = list(LanceDBVectorStore(uri).list_ids(NS))
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert LanceDBVectorStore(uri).count(NS) == len(expected)


def _endless_writer(uri: str) -> None:
    """Rewrite the same 20,000 ids in commits of 500 until killed."""
    vectors = LanceDBVectorStore(uri, write_batch=500)
    n = 0
    while True:
        n += 1
        vectors.upsert(NS, [record(f"k:{i:05d}", unit(1, n, i)) for i in range(20_000)])


def test_lancedb_survives_kill_9_of_a_writer(tmp_path: Path) -> None:
    uri = str(tmp_path / "v")
    vectors = LanceDBVectorStore(uri)
    vectors.ensure_namespace(NS, DIM)
    process = multiprocessing.get_context("spawn").Process(target=_endless_writer, args=(uri,))
    process.start()
    deadline = time.monotonic() + 60
    while vectors.count(NS) < 3_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 0.3))
    process.kill()
    process.join()
    assert process.exitcode == -9

    reopened = LanceDBVectorStore(uri)
    partial = list(reopened.list_ids(NS))
    assert len(partial) == len(set(partial)) >= 3_000
    expected = [f"k:{i:05d}" for i in range(20_000)]
    reopened.upsert(NS, [record(vid, unit(0, 1)) for vid in expected])
    assert sorted(reopened.list_ids(NS)) == expected
    assert reopened.count(NS) == 20_000
    assert len(reopened.optimize()) == 1
    assert reopened.fetch(NS, ["k:00007"])["k:00007"] == pytest.approx(unit(0, 1))


# -- Pinecone specifics --------------------------------------------------------------------------------------


def test_pinecone_upserts_in_requests_under_the_size_limit() -> None:
    server = FakePinecone(FAKE_PINECONE_KEY, 1024)
    try:
        vectors = PineconeVectorStore(FAKE_PINECONE_KEY, server.url)
        rng = random.Random(1)
        records = [record(f"r:d:{i}", [rng.uniform(-1, 1) for _ in range(1024)]) for i in range(300)]
        vectors.upsert(NS, records)
        upserts = [r for r in server.requests if r.path == "/vectors/upsert"]
        assert len(upserts) >= 3
        assert all(len(r.body) <= MAX_BODY_BYTES for r in upserts)
        assert vectors.count(NS) == 300

        # The same 300 vectors in one request are over the limit: the service answers 413.
        from pinecone import Pinecone
        from pinecone.errors import PayloadTooLargeError

        with pytest.raises(PayloadTooLargeError):
            Pinecone(api_key=FAKE_PINECONE_KEY).Index(host=server.url).upsert(
                vectors=[(r.id, list(r.vector)) for r in records], namespace=NS
            )
    finally:
        server.close()


def test_pinecone_failed_batch_is_retried_then_raised(fake_pinecone: FakePinecone) -> None:
    vectors = PineconeVectorStore(FAKE_PINECONE_KEY, fake_pinecone.url)
    fake_pinecone.fail_upserts = 1
    vectors.upsert(NS, [record("a", unit(1))])
    assert vectors.count(NS) == 1
    fake_pinecone.fail_upserts = 2
    with pytest.raises(VectorStoreError, match="1 of 1 vectors failed"):
        vectors.upsert(NS, [record("b", unit(1))])
    assert list(vectors.list_ids(NS)) == ["a"]


def test_pinecone_bad_key_error_does_not_leak_key(fake_pinecone: FakePinecone) -> None:
    secret = "pc-wrong-secret-key-123"
    vectors = PineconeVectorStore(secret, fake_pinecone.url)
    with pytest.raises(VectorStoreError) as error:
        vectors.upsert(NS, [record("a", unit(1))])
    assert secret not in str(error.value)
    assert "401" in str(error.value) or "Invalid API Key" in str(error.value)


# -- factory -------------------------------------------------------------------------------------------------


def test_factory_builds_backend_from_settings(
    lightfast_env: object, monkeypatch: pytest.MonkeyPatch, fake_pinecone: FakePinecone
) -> None:
    assert isinstance(build_vector_store(load_settings()), LanceDBVectorStore)
    monkeypatch.setenv("LIGHTFAST_VECTOR_BACKEND", "pinecone")
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    with pytest.raises(VectorStoreError, match="PINECONE_API_KEY"):
        build_vector_store(load_settings())
    monkeypatch.setenv("PINECONE_API_KEY", FAKE_PINECONE_KEY)
    monkeypatch.setenv("PINECONE_INDEX_HOST", fake_pinecone.url)
    pinecone = build_vector_store(load_settings())
    assert isinstance(pinecone, PineconeVectorStore)
    pinecone.upsert(NS, [record("a", unit(1))])
    assert fake_pinecone.namespaces[NS].keys() == {"a"}
    monkeypatch.setenv("LIGHTFAST_VECTOR_BACKEND", "chroma")
    with pytest.raises(VectorStoreError, match="unknown vector backend 'chroma'"):
        build_vector_store(load_settings())

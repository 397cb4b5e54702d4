"""Issue 15 item 4: the LanceDB vector index, forced on small tables (the 1M figures: benchmarks/scale.py).

With the index, search must give what exact search gives on a small set, a repository filter must rank only
that repository's rows (and still return k of them), and rows written after training must be found and then
folded into the index.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from lightfast_pipeline.vectorstores.base import VectorRecord, VectorStoreError
from lightfast_pipeline.vectorstores.lancedb_child import maintain_in_child
from lightfast_pipeline.vectorstores.lancedb_index import IndexAction, IndexPolicy, IndexState
from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore, table_name

NS = "acme/docs"
DIM = 32
ROWS = 2_000
REPOSITORIES = ("repo-a", "repo-b", "repo-c", "small")


def records(start: int, count: int, seed: int) -> list[VectorRecord]:
    """``count`` clustered unit vectors; repository ``small`` owns every 200th row."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((20, DIM))
    vectors = centres[rng.integers(0, 20, count)] + 0.5 * rng.standard_normal((count, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for offset, vector in enumerate(vectors):
        n = start + offset
        repository = "small" if n % 200 == 0 else REPOSITORIES[n % 3]
        out.append(VectorRecord(f"{repository}:d{n // 10}:{n:06d}", vector.tolist(), {"repository": repository}))
    return out


def exact_ids(rows: list[VectorRecord], query: list[float], k: int, repository: str | None = None) -> list[str]:
    """The true top ``k`` by cosine, computed here."""
    chosen = [r for r in rows if repository is None or r.metadata["repository"] == repository]
    scores = np.array([r.vector for r in chosen]) @ np.array(query)
    return [chosen[i].id for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[LanceDBVectorStore, list[VectorRecord]]:
    """A store of 2,000 vectors whose index is forced (the real threshold is far above)."""
    store = LanceDBVectorStore(str(tmp_path / "vectors"))
    rows = records(0, ROWS, seed=1)
    store.upsert(NS, rows)
    assert store.maintain_index(NS) is IndexAction.NONE  # below the threshold: exact search
    assert store.maintain_index(NS, force=True) is IndexAction.BUILD
    return store, rows


def state(store: LanceDBVectorStore) -> IndexState:
    return store.index_state(NS)


def test_indexed_search_equals_exact_search_on_a_small_set(indexed) -> None:
    store, rows = indexed
    assert state(store).index_name == f"vector_ivfsq_{ROWS}" and state(store).unindexed_rows == 0
    for query in records(10_000, 20, seed=2):
        found = [match.id for match in store.query(NS, query.vector, top_k=10)]
        assert found == exact_ids(rows, query.vector, 10)


def test_repository_filter_stays_exact_with_the_index(indexed) -> None:
    store, rows = indexed
    table = store._open(NS)
    assert table.index_stats("repository_idx").num_unindexed_rows == 0  # folded in when the vector index was built
    plan = table.search(rows[0].vector).where("repository = 'small'", prefilter=True).explain_plan(verbose=True)
    assert "ScalarIndexQuery: query=[repository = small]@repository_idx(Bitmap)" in plan  # no column scan
    for query in records(10_000, 10, seed=3):
        for repository in ("repo-b", "small"):
            matches = store.query(NS, query.vector, top_k=8, where={"repository": repository})
            assert {m.metadata["repository"] for m in matches} == {repository}
            assert [m.id for m in matches] == exact_ids(rows, query.vector, 8, repository)
    # "small" owns 10 rows spread over every partition: a prefilter still returns all of them
    assert len(store.query(NS, rows[0].vector, top_k=50, where={"repository": "small"})) == ROWS // 200


def test_new_rows_are_found_at_once_and_folded_into_the_index(tmp_path: Path) -> None:
    policy = IndexPolicy(min_rows=1_000, refresh_unindexed=500, retrain_growth=3.0)
    store = LanceDBVectorStore(str(tmp_path / "vectors"), index_policy=policy)
    first = records(0, 1_200, seed=1)
    store.upsert(NS, first)  # crosses min_rows: the writer builds the index
    assert state(store).index_name == "vector_ivfsq_1200"

    added = records(1_200, 300, seed=4)
    store.upsert(NS, added)  # 300 unindexed < 500: searched exactly beside the index
    assert state(store).unindexed_rows == 300
    assert store.query(NS, added[7].vector, top_k=1)[0].id == added[7].id

    store.upsert(NS, records(1_500, 300, seed=5))  # 600 unindexed: folded in by this writer
    assert state(store).unindexed_rows == 0 and state(store).index_name == "vector_ivfsq_1200"
    assert store.query(NS, added[7].vector, top_k=1)[0].id == added[7].id

    store.upsert(NS, records(1_800, 1_800, seed=6))  # 3,600 rows >= 3 x 1,200: retrained, old index dropped
    after = state(store)
    assert (after.index_name, after.unindexed_rows) == ("vector_ivfsq_3600", 0)
    vector_indices = [i.name for i in store._open(NS).list_indices() if i.columns == ["vector"]]
    assert vector_indices == ["vector_ivfsq_3600"]
    everything = first + added + records(1_500, 300, seed=5) + records(1_800, 1_800, seed=6)
    query = records(20_000, 1, seed=7)[0].vector
    assert [m.id for m in store.query(NS, query, top_k=10)] == exact_ids(everything, query, 10)


def test_the_writer_leaves_index_maintenance_to_a_child_process(tmp_path: Path, caplog) -> None:
    """Issue 15: index memory grows with the table, so a writer's own memory must not pay for it."""
    uri, policy = str(tmp_path / "vectors"), IndexPolicy(min_rows=1_000)
    store = LanceDBVectorStore(uri, index_policy=policy)
    with caplog.at_level(logging.INFO, logger="lightfast_pipeline.vectorstores.lancedb_store"):
        store.upsert(NS, records(0, 1_200, seed=1))
    assert "vector index of ns_acme_docs_" in caplog.text and ": build in a child process" in caplog.text
    assert store.index_state(NS).index_name == "vector_ivfsq_1200"

    again = maintain_in_child(uri, table_name(NS), policy, force=True)  # checked again in the child: nothing due
    assert again.action is IndexAction.NONE and again.peak_rss_mb > 0
    with pytest.raises(VectorStoreError, match="vector index maintenance of ns_missing failed"):
        maintain_in_child(uri, "ns_missing", policy)


def test_deleted_rows_never_come_back_from_the_index(indexed) -> None:
    store, rows = indexed
    target = rows[42]
    assert store.query(NS, target.vector, top_k=1)[0].id == target.id
    store.delete(NS, [target.id])
    assert target.id not in [m.id for m in store.query(NS, target.vector, top_k=10)]


def test_store_optimize_folds_every_unindexed_row_in(run) -> None:
    from lightfast_pipeline.cli.common import get_runtime

    store = get_runtime().vector_store
    store.upsert(NS, records(0, 1_000, seed=1))
    store.maintain_index(NS, force=True)
    store.upsert(NS, records(1_000, 300, seed=2))  # far below refresh_unindexed: left to the schedule
    assert store.index_state(NS).unindexed_rows == 300

    optimized = run("store", "optimize", "--json")

    assert optimized.exit_code == 0, optimized.output
    assert list(json.loads(optimized.stdout)["tables"]) == [table_name(NS)]
    assert store.index_state(NS).unindexed_rows == 0


def test_search_handle_follows_writes_and_a_recreated_table(tmp_path: Path) -> None:
    uri = str(tmp_path / "vectors")
    reader, writer = LanceDBVectorStore(uri), LanceDBVectorStore(uri)
    first = records(0, 50, seed=1)
    writer.upsert(NS, first)
    assert reader.query(NS, first[3].vector, top_k=1)[0].id == first[3].id  # handle opened and kept

    more = records(50, 50, seed=2)
    writer.upsert(NS, more)
    assert reader.query(NS, more[5].vector, top_k=1)[0].id == more[5].id  # a new version is seen

    writer.drop_namespace(NS)
    writer.upsert(NS, [VectorRecord("other:d:1", more[5].vector, {"repository": "other"})])
    assert [m.id for m in reader.query(NS, more[5].vector, top_k=5)] == ["other:d:1"]  # the new table

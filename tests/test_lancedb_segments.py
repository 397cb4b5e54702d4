"""Issue 15: the vector index maintained in bounded steps (``lancedb_maintenance.py``).

The rules are pure functions, tested here without a table; then a real table with a segment size of 1,000 rows:
compaction never makes a fragment larger than a segment, refreshes fill the newest segment up to the cap and
then start a new one, a retrain rebuilds the index segment by segment on one set of centroids, and search over
the segments still equals exact search.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lance
import pytest

from lightfast_pipeline.vectorstores.lancedb_child import maintain_in_child
from lightfast_pipeline.vectorstores.lancedb_index import (
    IndexAction,
    IndexPolicy,
    IndexState,
    fragment_groups,
    maintenance_due,
    sample_rate_for,
    segment_cap,
    segments_to_merge,
)
from lightfast_pipeline.vectorstores.lancedb_maintenance import dataset_uri
from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore, table_name
from tests.test_lancedb_index import NS, exact_ids, records

SEGMENT = 1_000
POLICY = IndexPolicy(min_rows=1_000, refresh_unindexed=500, retrain_growth=10.0, segment_rows=SEGMENT)


def test_fragments_are_grouped_up_to_the_segment_size_and_a_large_one_stands_alone() -> None:
    fragments = [(0, 300), (1, 300), (2, 500), (3, 2_000), (4, 100), (5, 900)]
    assert fragment_groups(fragments, 1_000) == [[0, 1], [2], [3], [4, 5]]
    assert fragment_groups([], 1_000) == []


def test_a_refresh_merges_the_newest_segments_that_fit_within_the_cap() -> None:
    assert segments_to_merge([1_000, 400, 300], unindexed=200, cap=1_000) == 2  # 200 + 300 + 400
    assert segments_to_merge([1_000], unindexed=200, cap=1_000) == 0  # full: the new rows make a segment
    assert segments_to_merge([300, 1_000], unindexed=100, cap=1_000) == 0  # only the newest end is merged
    assert segments_to_merge([], unindexed=50, cap=1_000) == 0


def test_a_segment_holds_32768_rows_until_the_table_needs_more_than_eight() -> None:
    policy = IndexPolicy()
    assert segment_cap(25_000, policy) == segment_cap(262_144, policy) == 32_768
    assert segment_cap(1_000_000, policy) == 125_000


def test_an_empty_table_gets_no_index_even_when_forced() -> None:
    assert maintenance_due(IndexState(0), IndexPolicy(), force=True) is IndexAction.NONE
    assert maintenance_due(IndexState(1), IndexPolicy(), force=True) is IndexAction.BUILD


def test_centroids_are_trained_on_a_bounded_sample() -> None:
    policy = IndexPolicy(train_sample_rows=32_768)
    assert sample_rate_for(977, 1_000_000, policy) == 33  # 32,241 rows sampled out of a million
    assert sample_rate_for(24, 25_000, policy) == 256  # Lance's default while it fits
    assert sample_rate_for(2, 300, policy) == 150  # never more rows than the table holds


def segment_rows(store: LanceDBVectorStore) -> list[int]:
    """Rows of each segment of the namespace's vector index, oldest first."""
    dataset = lance.dataset(dataset_uri(store.uri, table_name(NS)))
    name = store.index_state(NS).index_name
    return [sum(p["size"] for p in segment["partitions"]) for segment in dataset.stats.index_stats(name)["indices"]]


def fragment_rows(store: LanceDBVectorStore) -> list[int]:
    dataset = lance.dataset(dataset_uri(store.uri, table_name(NS)))
    return [fragment.count_rows() for fragment in dataset.get_fragments()]


@pytest.fixture
def segmented(tmp_path: Path):
    """2,500 rows written in upserts of 500 under a 1,000-row segment size: built at 1,000, refreshed at
    1,500, 2,000 and 2,500."""
    store = LanceDBVectorStore(str(tmp_path / "vectors"), index_policy=POLICY)
    rows = records(0, 2_500, seed=1)
    for start in range(0, len(rows), 500):
        store.upsert(NS, rows[start : start + 500])
    return store, rows


def test_refreshes_fill_the_newest_segment_up_to_the_cap(segmented) -> None:
    store, rows = segmented
    state = store.index_state(NS)
    assert (state.index_name, state.unindexed_rows) == ("vector_ivfsq_1000", 0)
    assert segment_rows(store) == [1_000, 1_000, 500]  # 1,500: a new segment; 2,000: merged into it; 2,500: new
    assert sum(fragment_rows(store)) == 2_500 and max(fragment_rows(store)) <= SEGMENT
    for query in records(10_000, 20, seed=2):
        assert [m.id for m in store.query(NS, query.vector, top_k=10)] == exact_ids(rows, query.vector, 10)
        matches = store.query(NS, query.vector, top_k=5, where={"repository": "repo-b"})
        assert [m.id for m in matches] == exact_ids(rows, query.vector, 5, "repo-b")


def test_a_retrain_rebuilds_the_index_segment_by_segment_on_shared_centroids(segmented) -> None:
    store, rows = segmented
    retraining = LanceDBVectorStore(store.uri, index_policy=IndexPolicy(**{**POLICY.__dict__, "retrain_growth": 2.0}))
    more = records(2_500, 500, seed=3)
    retraining.upsert(NS, more)  # 3,000 rows >= 2 x 1,000: retrained
    state = retraining.index_state(NS)
    assert (state.index_name, state.unindexed_rows) == ("vector_ivfsq_3000", 0)
    vector_indices = [i.name for i in retraining._open(NS).list_indices() if i.columns == ["vector"]]
    assert vector_indices == ["vector_ivfsq_3000"]  # the previous index is dropped
    rebuilt = segment_rows(retraining)  # one per group of fragments (Lance compacts indexed and new rows apart)
    assert sum(rebuilt) == 3_000 and max(rebuilt) <= SEGMENT and len(rebuilt) >= 3
    dataset = lance.dataset(dataset_uri(store.uri, table_name(NS)))
    segments = dataset.stats.index_stats("vector_ivfsq_3000")["indices"]
    assert len({str(segment["centroids"]) for segment in segments}) == 1  # one set of centroids for all
    for query in records(10_000, 20, seed=4):
        assert [m.id for m in retraining.query(NS, query.vector, top_k=10)] == exact_ids(rows + more, query.vector, 10)


def test_store_optimize_compacts_without_building_an_index_on_a_small_table(tmp_path: Path) -> None:
    store = LanceDBVectorStore(str(tmp_path / "vectors"), index_policy=POLICY)
    for start in range(0, 900, 300):
        store.upsert(NS, records(start, 300, seed=start + 1))
    assert len(fragment_rows(store)) == 3
    assert store.optimize() == {table_name(NS): IndexAction.NONE}  # 900 < min_rows: search stays exact
    assert fragment_rows(store) == [900]
    assert store._open(NS).index_stats("id_idx").num_unindexed_rows == 0


def test_the_maintenance_child_imports_lance_but_not_lancedb(segmented) -> None:
    """Its memory is the point: importing LanceDB beside Lance takes the child from 116 to 182 MB (measured)."""
    store, _ = segmented
    code = (
        "import sys, json; from lightfast_pipeline.vectorstores.lancedb_maintenance import maintain; "
        "from lightfast_pipeline.vectorstores.lancedb_index import IndexPolicy; "
        f"print(maintain({store.uri!r}, {table_name(NS)!r}, IndexPolicy(**json.loads(sys.argv[1])), optimize=True), "
        "sorted(m for m in sys.modules if m.split('.')[0] == 'lancedb'))"
    )
    policy = json.dumps(POLICY.__dict__)
    done = subprocess.run([sys.executable, "-c", code, policy], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["none", "[]"]


def test_the_child_reports_its_own_peak_not_its_parents(segmented) -> None:
    """Linux carries a parent's peak RSS into a child's ``ru_maxrss`` at ``exec``: a writer holding 512 MB would
    have every maintenance child "peak" above that. The child reads its own high-water mark instead."""
    store, _ = segmented
    held = bytearray(512 << 20)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # touch every page: resident in this process
    report = maintain_in_child(store.uri, table_name(NS), POLICY, optimize=True)
    assert report.action is IndexAction.NONE
    assert 50 < report.peak_rss_mb < 400  # Lance, Python and one small table: ~150 MB
    del held

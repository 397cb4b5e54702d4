"""Index maintenance of one LanceDB table in bounded memory, through Lance's own API (run by ``lancedb_child.py``).

LanceDB's ``optimize()`` compacts every fragment below a million rows into one, and merges new rows into the
whole vector index; ``create_index`` holds every vector it indexes (~2.5 KB a row: 725 MB at 250,000 rows).
The maintenance child peaked at 529 MB at 250,000 rows while the run itself stayed at 397 (issue 15). Here
every step is bounded by one segment, :func:`segment_cap` rows (32,768 up to 262,144 rows, an eighth of the
table beyond):

- compaction merges small fragments into fragments of at most one segment, and never rewrites a full one;
- the vector index is a set of segments sharing one set of centroids. A refresh indexes the new rows into the
  newest segment while it stays within the cap (:func:`segments_to_merge`), else into a new one;
- a build (first index, or a retrain once the table has grown ``retrain_growth`` times) trains the centroids on
  at most ``train_sample_rows`` sampled rows, then builds one segment per group of fragments, returning the
  heap to the OS between segments, and publishes them as one index that replaces the previous one;
- the index state comes from the manifest (which fragments each segment covers), not from the index files;
- the index on ``id`` is a bloom filter per zone of rows, made here (LanceDB cannot make one). An upsert
  probes its ids in it: a BTREE loaded one page per id, so its probe grew with the table (+22 to +35 MB at
  250,000 rows, against +1 MB); compaction leaves the bloom filter stale, and the refresh after it rebuilds it.

Search probes ``nprobes`` partitions in each segment: with shared centroids that reads the same rows as one
index would, plus ~1-3 ms per segment (README "Index maintenance in bounded segments").
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from lightfast_pipeline.vectorstores import native_heap
from lightfast_pipeline.vectorstores.lancedb_index import (
    INDEX_PREFIX,
    IndexAction,
    IndexPolicy,
    IndexState,
    fragment_groups,
    maintenance_due,
    parse_index_name,
    partitions_for,
    sample_rate_for,
    segment_cap,
    segments_to_merge,
)
from lightfast_pipeline.vectorstores.table_writes import lock_dir_of, retry_conflicts, table_lock

log = logging.getLogger(__name__)

VECTOR_COLUMN = "vector"
ID_COLUMN = "id"
ID_INDEX = "id_idx"  # the name LanceDB gave the BTREE of older versions
BLOOM_FILTER_DETAILS = "BloomFilterIndexDetails"  # the end of a bloom filter's index ``type_url``


def dataset_uri(uri: str, table: str) -> str:
    """Where LanceDB keeps table ``table`` of the database at ``uri``."""
    return f"{uri.rstrip('/')}/{table}.lance"


def maintain(
    uri: str,
    table: str,
    policy: IndexPolicy,
    *,
    force: bool = False,
    optimize: bool = False,
    cleanup_older_than: timedelta | None = None,
) -> IndexAction:
    """Under the table's write lock: the index action due (checked again: another process may have done it),
    after a compaction. ``optimize`` (``lightfast store optimize``) compacts and folds every unindexed row in
    even when nothing is due; ``cleanup_older_than`` then removes older versions. Returns the action taken."""
    import lance

    native_heap.cap_arenas()
    with table_lock(lock_dir_of(uri), table):
        dataset = lance.dataset(dataset_uri(uri, table))
        state = dataset_index_state(dataset)
        action = maintenance_due(state, policy, force=force)
        if optimize and action is IndexAction.NONE and state.index_name is not None and state.unindexed_rows:
            action = IndexAction.REFRESH
        if action is not IndexAction.NONE or optimize:
            dataset = retry_conflicts(lambda: _compact(dataset, policy))
        if action is not IndexAction.NONE:
            state = dataset_index_state(dataset)  # compaction moved rows, not their number
            started = time.perf_counter()
            if action is IndexAction.BUILD:
                built = build_segments(dataset, state, policy)
                log.info("built vector index %s of %s in %.1fs", built, table, time.perf_counter() - started)
            else:
                refresh_segments(dataset, state, policy)
        if action is not IndexAction.NONE or optimize:
            dataset = lance.dataset(dataset_uri(uri, table))
            retry_conflicts(lambda: _refresh_scalar_indexes(dataset))
        if cleanup_older_than is not None:
            _cleanup(lance.dataset(dataset_uri(uri, table)), cleanup_older_than)
    return action


def dataset_index_state(dataset: Any) -> IndexState:
    """Rows and vector index of a Lance dataset, from its manifest: which fragments each index segment covers.
    (``dataset.stats.index_stats`` reads every segment's partitions instead: +100 MB at 250,000 rows.)"""
    rows = fragment_rows(dataset)
    for index in dataset.describe_indices():
        trained = parse_index_name(index.name)
        if trained is not None and list(index.field_names) == [VECTOR_COLUMN]:
            covered = set().union(*segment_fragments(dataset, index.name))
            unindexed = sum(count for fragment_id, count in rows.items() if fragment_id not in covered)
            return IndexState(sum(rows.values()), index.name, trained, unindexed)
    return IndexState(sum(rows.values()))


def fragment_rows(dataset: Any) -> dict[int, int]:
    """Rows of each fragment (deleted rows excluded), by fragment id."""
    return {fragment.fragment_id: fragment.count_rows() for fragment in dataset.get_fragments()}


def segment_fragments(dataset: Any, name: str) -> list[set[int]]:
    """The fragments each segment of index ``name`` covers, oldest segment first."""
    segments = sorted((index for index in dataset.list_indices() if index["name"] == name), key=lambda i: i["version"])
    return [set(segment["fragment_ids"]) for segment in segments]


def build_segments(dataset: Any, state: IndexState, policy: IndexPolicy) -> str:
    """Train centroids on a bounded sample, build one segment per group of fragments, publish them as a new
    index and drop the previous one (searches use it until then). Returns the new index's name."""
    from lance.indices import IndicesBuilder

    name = f"{INDEX_PREFIX}{state.rows}"
    partitions = partitions_for(state.rows, policy)
    model = IndicesBuilder(dataset, VECTOR_COLUMN).train_ivf(
        partitions, distance_type="cosine", sample_rate=sample_rate_for(partitions, state.rows, policy)
    )
    native_heap.trim()
    fragments = [(fragment.fragment_id, fragment.count_rows()) for fragment in dataset.get_fragments()]
    segments = []
    for group in fragment_groups(fragments, segment_cap(state.rows, policy)):
        segments.append(
            dataset.create_index_uncommitted(
                VECTOR_COLUMN,
                "IVF_SQ",
                name=name,
                metric="cosine",
                num_partitions=partitions,
                ivf_centroids=model.centroids,
                fragment_ids=group,
            )
        )
        native_heap.trim()  # a segment's working memory, back to the OS before the next one
    retry_conflicts(lambda: dataset.commit_existing_index_segments(name, VECTOR_COLUMN, segments))
    if state.index_name is not None and state.index_name != name:
        retry_conflicts(lambda: dataset.drop_index(state.index_name))
    return name


def refresh_segments(dataset: Any, state: IndexState, policy: IndexPolicy) -> None:
    """Index the unindexed rows into the newest segments while they stay within the cap, else into a new
    segment."""
    assert state.index_name is not None
    rows = fragment_rows(dataset)
    segments = [sum(rows.get(f, 0) for f in fragments) for fragments in segment_fragments(dataset, state.index_name)]
    merged = segments_to_merge(segments, state.unindexed_rows, segment_cap(state.rows, policy))
    retry_conflicts(
        lambda: dataset.optimize.optimize_indices(index_names=[state.index_name], num_indices_to_merge=merged)
    )


def _compact(dataset: Any, policy: IndexPolicy) -> Any:
    """Merge small fragments into fragments of at most one segment's rows; returns the dataset as it is now."""
    import lance

    dataset.optimize.compact_files(target_rows_per_fragment=segment_cap(dataset.count_rows(), policy))
    native_heap.trim()
    return lance.dataset(dataset.uri)


def _refresh_scalar_indexes(dataset: Any) -> None:
    """Make the ``id`` bloom filter if the table lacks it (or has the BTREE of older versions), then fold the
    rows written since into every scalar index (small beside the vectors: +15 MB at 250,000 rows)."""
    import lance

    scalar = [index for index in dataset.describe_indices() if parse_index_name(index.name) is None]
    on_id = next((index for index in scalar if list(index.field_names) == [ID_COLUMN]), None)
    if on_id is None or not on_id.type_url.endswith(BLOOM_FILTER_DETAILS):
        name = on_id.name if on_id is not None else ID_INDEX
        dataset.create_scalar_index(ID_COLUMN, "BLOOMFILTER", name=name, replace=True)
        dataset = lance.dataset(dataset.uri)
    names = [index.name for index in dataset.describe_indices() if parse_index_name(index.name) is None]
    dataset.optimize.optimize_indices(index_names=names)


def _cleanup(dataset: Any, older_than: timedelta) -> None:
    """Delete the files of versions older than ``older_than`` (never the latest version)."""
    dataset.cleanup_old_versions(older_than=older_than)

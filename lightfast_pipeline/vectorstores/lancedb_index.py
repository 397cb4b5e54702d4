"""The approximate-nearest-neighbour index of a LanceDB namespace table: when to build, refresh or retrain it.

Below :attr:`IndexPolicy.min_rows` vectors a table has no vector index and search is exact (brute force).
From there on it carries one IVF_SQ index (inverted file of k-means partitions over 8-bit scalar-quantised
vectors; measured here against IVF_PQ: 13x faster to build, better recall before refinement), searched with
``nprobes`` partitions and the best ``refine_factor * k`` candidates re-ranked on the full vectors. Rows
written after the index was trained are searched exactly beside it until they are folded in.

The index is made of segments that share one set of centroids (Lance's segmented indexes), each of at most
:func:`segment_cap` rows: ``segment_rows`` (32,768) up to 262,144 rows, an eighth of the table beyond.
Building a segment takes ~3 KB of memory per row it covers, so the maintenance child's peak follows the
segment, not the table (``lancedb_maintenance.py``); each segment costs every search a little, hence the cap
on their number.

The index name records how many rows it was trained on (``vector_ivfsq_<rows>``), so every process can tell
when the table has outgrown its partitions without any other state.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INDEX_PREFIX = "vector_ivfsq_"
_NAME = re.compile(rf"^{INDEX_PREFIX}(\d+)$")


@dataclass(frozen=True)
class IndexPolicy:
    """When the vector index is built and refreshed, and how it is searched (see docs/architecture.md)."""

    min_rows: int = 20_000  # exact search p95 passes ~50 ms between 10k and 25k rows (benchmarks/scale.py)
    refresh_unindexed: int = 10_000  # fold new rows in past this many (they are searched exactly until then)
    retrain_growth: float = 2.0  # retrain (segment by segment) when the table has grown this much since training
    # Swept at 1M clustered vectors (benchmarks/scale.py, docs/architecture.md): partitions of ~1,024 rows
    # (977 at 1M) probed 30 at a time, the best 5 x k re-ranked, gave recall@10 0.996 at 9 / 12 ms CPU p50 / p95, k=50;
    # LanceDB's default ~8,192-row partitions needed 10 probes x refine 10 for 0.986 at 11 / 25 ms CPU p50 / p95.
    target_partition_size: int = 1_024
    nprobes: int = 30
    refine_factor: int = 5
    # Rows per index segment and per compacted fragment: what one step of maintenance holds in memory (~3 KB a
    # row). At least ``segment_rows``; a table past ``max_segments`` times that has ``max_segments`` segments,
    # since each segment costs every search ~1-3 ms (README "Index maintenance in bounded segments").
    segment_rows: int = 32_768
    max_segments: int = 8
    train_sample_rows: int = 32_768  # rows sampled to train the centroids, whatever the table's size


class IndexAction(enum.StrEnum):
    """What :func:`maintenance_due` asks for."""

    NONE = "none"
    BUILD = "build"  # first index, or retrain after growth (a new index replaces the old one)
    REFRESH = "refresh"  # fold unindexed rows into the existing index


@dataclass(frozen=True)
class IndexState:
    """A table's rows and its vector index, if any."""

    rows: int
    index_name: str | None = None
    trained_rows: int = 0
    unindexed_rows: int = 0


def parse_index_name(name: str) -> int | None:
    """The rows a vector index named ``name`` was trained on; None if it is not one of ours."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def index_state(table: Any) -> IndexState:
    """Read the rows and vector index of a LanceDB ``table`` (a few metadata reads, no data scan)."""
    rows = int(table.count_rows())
    for index in table.list_indices():
        trained = parse_index_name(index.name)
        if trained is not None and index.columns == ["vector"]:
            stats = table.index_stats(index.name)
            unindexed = int(stats.num_unindexed_rows) if stats is not None else rows
            return IndexState(rows, index.name, trained, unindexed)
    return IndexState(rows)


def maintenance_due(state: IndexState, policy: IndexPolicy, *, force: bool = False) -> IndexAction:
    """The action a table in ``state`` needs; ``force`` builds an index whatever the size (tests, CLI), but
    never on an empty table (there is nothing to train the centroids on)."""
    if state.index_name is None:
        wanted = force or state.rows >= policy.min_rows
        return IndexAction.BUILD if wanted and state.rows > 0 else IndexAction.NONE
    if state.rows >= policy.retrain_growth * max(state.trained_rows, 1):
        return IndexAction.BUILD
    if state.unindexed_rows >= policy.refresh_unindexed or (force and state.unindexed_rows > 0):
        return IndexAction.REFRESH
    return IndexAction.NONE


def partitions_for(rows: int, policy: IndexPolicy) -> int:
    """The number of IVF partitions for a table of ``rows`` rows (at least one)."""
    return max(1, rows // policy.target_partition_size)


def segment_cap(rows: int, policy: IndexPolicy) -> int:
    """The most rows one index segment (and one compacted fragment) of a table of ``rows`` rows holds."""
    return max(policy.segment_rows, -(-rows // policy.max_segments))


def sample_rate_for(partitions: int, rows: int, policy: IndexPolicy) -> int:
    """Rows sampled per partition to train the centroids: at most 256 (Lance's default), at most
    ``train_sample_rows`` in all, and no more than the table holds."""
    return max(1, min(256, policy.train_sample_rows // partitions, rows // partitions))


def fragment_groups(fragments: Sequence[tuple[int, int]], cap: int) -> list[list[int]]:
    """Consecutive ``(fragment id, rows)`` gathered into groups of at most ``cap`` rows (a larger fragment is a
    group of its own): the fragments of one index segment."""
    groups: list[list[int]] = []
    rows_in_group = 0
    for fragment_id, rows in fragments:
        if not groups or rows_in_group + rows > cap:
            groups.append([])
            rows_in_group = 0
        groups[-1].append(fragment_id)
        rows_in_group += rows
    return groups


def segments_to_merge(segment_rows: Sequence[int], unindexed: int, cap: int) -> int:
    """How many of the newest segments (``segment_rows`` oldest first) a refresh merges with the ``unindexed``
    rows so that the merged segment stays within ``cap`` rows; 0 writes the new rows as a segment of their own."""
    merged, total = 0, unindexed
    for rows in reversed(segment_rows):
        if total + rows > cap:
            break
        merged, total = merged + 1, total + rows
    return merged


def tune(query: Any, policy: IndexPolicy, *, filtered: bool) -> Any:
    """Search parameters for an indexed table. A filtered search may probe more partitions until it has k
    matching rows (a narrow prefilter must still fill k); an unfiltered one probes exactly ``nprobes``
    (allowing more costs ~1.5x even when it is not needed)."""
    query = query.minimum_nprobes(policy.nprobes).maximum_nprobes(0 if filtered else policy.nprobes)
    return query.refine_factor(policy.refine_factor)

"""The approximate-nearest-neighbour index of a LanceDB namespace table: when to build, refresh or retrain it.

Below :attr:`IndexPolicy.min_rows` vectors a table has no vector index and search is exact (brute force).
From there on it carries one IVF_SQ index (inverted file of k-means partitions over 8-bit scalar-quantised
vectors; measured here against IVF_PQ: 13x faster to build, better recall before refinement), searched with
``nprobes`` partitions and the best ``refine_factor * k`` candidates re-ranked on the full vectors. Rows
written after the index was trained are searched exactly beside it until they are folded in.

The index name records how many rows it was trained on (``vector_ivfsq_<rows>``), so every process can tell
when the table has outgrown its partitions without any other state.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

INDEX_PREFIX = "vector_ivfsq_"
_NAME = re.compile(rf"^{INDEX_PREFIX}(\d+)$")


@dataclass(frozen=True)
class IndexPolicy:
    """When the vector index is built and refreshed, and how it is searched (see docs/architecture.md)."""

    min_rows: int = 20_000  # exact search p95 passes ~50 ms between 10k and 25k rows (benchmarks/scale.py)
    refresh_unindexed: int = 10_000  # fold new rows in past this many (they are searched exactly until then)
    retrain_growth: float = 4.0  # retrain partitions when the table has grown this much since training
    # Swept at 1M clustered vectors (benchmarks/scale.py, docs/architecture.md): partitions of ~1,024 rows
    # (977 at 1M) probed 30 at a time, the best 5 x k re-ranked, gave recall@10 0.996 at 9 / 12 ms CPU p50 / p95, k=50;
    # LanceDB's default ~8,192-row partitions needed 10 probes x refine 10 for 0.986 at 11 / 25 ms CPU p50 / p95.
    target_partition_size: int = 1_024
    nprobes: int = 30
    refine_factor: int = 5


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


def index_state(table: Any) -> IndexState:
    """Read the rows and vector index of ``table`` (a few metadata reads, no data scan)."""
    rows = int(table.count_rows())
    for index in table.list_indices():
        match = _NAME.match(index.name)
        if match and index.columns == ["vector"]:
            stats = table.index_stats(index.name)
            unindexed = int(stats.num_unindexed_rows) if stats is not None else rows
            return IndexState(rows, index.name, int(match.group(1)), unindexed)
    return IndexState(rows)


def maintenance_due(state: IndexState, policy: IndexPolicy, *, force: bool = False) -> IndexAction:
    """The action a table in ``state`` needs; ``force`` builds an index whatever the size (tests, CLI)."""
    if state.index_name is None:
        return IndexAction.BUILD if force or state.rows >= policy.min_rows else IndexAction.NONE
    if state.rows >= policy.retrain_growth * max(state.trained_rows, 1):
        return IndexAction.BUILD
    if state.unindexed_rows >= policy.refresh_unindexed or (force and state.unindexed_rows > 0):
        return IndexAction.REFRESH
    return IndexAction.NONE


def build_index(table: Any, state: IndexState, policy: IndexPolicy) -> str:
    """Train a new IVF_SQ index on every row, then drop the previous one (searches use it until then)."""
    from lancedb.index import IvfSq

    name = f"{INDEX_PREFIX}{state.rows}"
    if name != state.index_name:
        config = IvfSq(distance_type="cosine", target_partition_size=policy.target_partition_size)
        table.create_index("vector", config=config, name=name, replace=True)
        if state.index_name is not None:
            table.drop_index(state.index_name)
    return name


def refresh_index(table: Any) -> None:
    """Fold unindexed rows into the existing partitions (LanceDB's optimize: compaction + index delta)."""
    table.optimize()


def tune(query: Any, policy: IndexPolicy, *, filtered: bool) -> Any:
    """Search parameters for an indexed table. A filtered search may probe more partitions until it has k
    matching rows (a narrow prefilter must still fill k); an unfiltered one probes exactly ``nprobes``
    (allowing more costs ~1.5x even when it is not needed)."""
    query = query.minimum_nprobes(policy.nprobes).maximum_nprobes(0 if filtered else policy.nprobes)
    return query.refine_factor(policy.refine_factor)

"""Retrieval evaluation: graded queries (query → acceptable paths) run through search, scored.

A query is answered at the rank of the first result whose path is one of its expected paths (the expected
paths are alternatives: any one answers it). Metrics over all queries: recall@1/5/10 (share answered within
that rank), MRR@10 (mean of 1/rank, 0 beyond 10) and nDCG@10 (one relevant answer per query, so each query
contributes 1/log2(1 + rank), 0 beyond 10). Latency is each search's own total, p50/p95 (nearest rank).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CUTOFFS = (1, 5, 10)
DEPTH = 10


class QueryFileError(Exception):
    """The graded query file cannot be read."""


@dataclass(frozen=True)
class GradedQuery:
    query: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """One query's result: the rank of its answer (None when not in the results) and the search latency."""

    query: GradedQuery
    rank: int | None
    latency_ms: float


def read_queries(path: Path) -> list[GradedQuery]:
    """``query<TAB>path[<TAB>path…]`` lines; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QueryFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    queries: list[GradedQuery] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        expected = tuple(field for field in fields[1:] if field)
        if not fields[0] or not expected:
            raise QueryFileError(f"{path}:{number}: expected 'query<TAB>expected path[<TAB>path…]'")
        queries.append(GradedQuery(fields[0], expected))
    if not queries:
        raise QueryFileError(f"{path}: no queries")
    return queries


def answer_rank(paths: Sequence[str], expected: Sequence[str]) -> int | None:
    """1-based rank of the first path that is expected, or None."""
    return next((rank for rank, path in enumerate(paths, start=1) if path in expected), None)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def evaluate(queries: Sequence[GradedQuery], run: Callable[[str], tuple[list[str], float]]) -> list[Outcome]:
    """Run every query (``run`` returns the result paths and the latency in ms) and rank its answer."""
    outcomes = []
    for graded in queries:
        paths, latency_ms = run(graded.query)
        outcomes.append(Outcome(graded, answer_rank(paths, graded.expected), latency_ms))
    return outcomes


def summarize(outcomes: Sequence[Outcome]) -> dict:
    """The ``lightfast eval --json`` document."""
    count = len(outcomes)
    ranks = [outcome.rank for outcome in outcomes]

    def share(value: float) -> float:
        return round(value / count, 4) if count else 0.0

    latencies = [outcome.latency_ms for outcome in outcomes]
    return {
        "queries": count,
        "recall": {str(k): share(sum(1 for r in ranks if r is not None and r <= k)) for k in CUTOFFS},
        "mrr": share(sum(1 / r for r in ranks if r is not None and r <= DEPTH)),
        "ndcg": share(sum(1 / math.log2(1 + r) for r in ranks if r is not None and r <= DEPTH)),
        "latency_ms": {"p50": round(percentile(latencies, 0.5), 2), "p95": round(percentile(latencies, 0.95), 2)},
        "per_query": [{"query": o.query.query, "expected": list(o.query.expected), "rank": o.rank} for o in outcomes],
    }

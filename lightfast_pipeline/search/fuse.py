"""Fusing ranked candidate lists (vector, keyword) into one ranking.

Each list is ``[(key, score), …]`` best first. Reciprocal rank fusion uses only positions, so it needs no
calibration between cosine similarity and BM25; the weighted sum scales each list by its best score.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

RRF_K = 60
FUSIONS = ("weighted", "rrf")
DEFAULT_FUSION = "weighted"  # measured on benchmarks/queries: better than RRF on every metric (README)

Ranked = Sequence[tuple[Hashable, float]]


def rrf(lists: Sequence[Ranked], k: int = RRF_K) -> dict[Hashable, float]:
    """Reciprocal rank fusion: sum over the lists of 1 / (k + rank), rank counted from 1."""
    fused: dict[Hashable, float] = {}
    for ranked in lists:
        for rank, (key, _score) in enumerate(ranked, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused


def weighted(lists: Sequence[Ranked], weights: Sequence[float]) -> dict[Hashable, float]:
    """Weighted sum of scores, each list divided by its best score (so each contributes at most its weight).

    A candidate whose score is not positive still takes part (contributing 0): a retriever's candidates are
    never dropped, so hybrid returns at least what either retriever alone would.
    """
    fused: dict[Hashable, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        best = max((score for _key, score in ranked), default=0.0)
        for key, score in ranked:
            share = weight * max(score, 0.0) / best if best > 0 else 0.0
            fused[key] = fused.get(key, 0.0) + share
    return fused


def fuse(lists: Sequence[Ranked], method: str = DEFAULT_FUSION) -> dict[Hashable, float]:
    """Fused scores (higher is better) by ``method``: ``rrf`` or ``weighted`` (equal weights)."""
    if method == "rrf":
        return rrf(lists)
    if method == "weighted":
        return weighted(lists, [1.0] * len(lists))
    raise ValueError(f"unknown fusion {method!r}: choose one of {FUSIONS}")


def best_per_key(ranked: Ranked, group: dict[Hashable, Hashable]) -> list[tuple[Hashable, float]]:
    """Collapse a ranked list of items to their groups (first occurrence wins); items without a group drop."""
    seen: set[Hashable] = set()
    collapsed: list[tuple[Hashable, float]] = []
    for key, score in ranked:
        owner = group.get(key)
        if owner is None or owner in seen:
            continue
        seen.add(owner)
        collapsed.append((owner, score))
    return collapsed

"""``index_truth`` on ``embeddings``: the store's vector ids equal the ledger and the source's chunks.

The check is declared on the ingestion multi-asset (``check_specs``), not as a separate ``@asset_check``:
the multi-asset cannot be subset, so every ingestion run executes it, inside the run's lease, after the commit
point (a separate check step would run after the lease is released and could see another run's writes in
flight). This module holds its spec and how an :class:`IndexTruth` becomes its result.
"""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from lightfast_pipeline.index.truth import FIRST_IDS, IndexTruth

INDEX_TRUTH = "index_truth"

index_truth_check = AssetCheckSpec(
    INDEX_TRUTH,
    asset="embeddings",
    description=(
        "The store's vector ids for the repository equal the chunk ledger and the chunks the source yields at "
        "the ingested commit (ids only, nothing embedded). Fix drift with `lightfast repo verify REPO --repair`."
    ),
)


def index_truth_result(truth: IndexTruth) -> AssetCheckResult:
    """Passed when nothing drifts; otherwise ERROR with the counts and the first ids of each drift."""
    first = {
        kind: ids[:FIRST_IDS]
        for kind, ids in (
            ("missing", truth.missing),
            ("orphaned", truth.orphaned),
            ("stale", truth.stale),
            ("unrecorded", truth.unrecorded),
        )
    }
    return AssetCheckResult(
        check_name=INDEX_TRUTH,
        asset_key="embeddings",
        passed=truth.ok,
        severity=AssetCheckSeverity.ERROR,
        description=truth.describe(),
        metadata={
            "commit": MetadataValue.text(truth.commit or ""),
            "store": truth.store,
            "ledger": truth.ledger,
            "expected": truth.expected,
            **truth.counts(),
            "first_ids": MetadataValue.json(first),
        },
    )


def index_truth_error(error: Exception) -> AssetCheckResult:
    """The truth could not be established (e.g. the source was unreachable after the commit)."""
    return AssetCheckResult(
        check_name=INDEX_TRUTH,
        asset_key="embeddings",
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description=f"could not compare the index with the source: {error}",
    )

"""Index truth: the store's vector ids against the chunk ledger and the chunks the source yields (pure).

Three sets of vector ids of one repository are compared:
- ``store``: what the vector store holds (listed by the repository's id prefix);
- ``ledger``: the catalog's chunk rows (what search resolves a hit through);
- ``expected``: the ids of the chunks the source yields at the ingested commit.

A drift is named by what would fix it:
- **missing**: the ledger or the source has the id, the store does not (embed it);
- **orphaned**: the store holds an id of no document the catalog or the source knows (delete it);
- **stale**: the store or the ledger holds an id of a live document that the source no longer yields, e.g. the
  vector of an older content hash (delete it; a stale ledger row needs a full re-ingestion);
- **unrecorded**: the source yields an id the ledger lacks (a full re-ingestion records it).

The keyword index (issue 13) is compared with the ledger too: **keyword missing** (a ledger row without its
keyword row) and **keyword orphaned** (a keyword row of no ledger row). Triggers keep it in the ledger's own
transaction, so either means someone edited the catalog by hand; repair rewrites those rows.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

FIRST_IDS = 10


def document_of(vector_id: str) -> str:
    """The document uid inside ``{repository_uid}:{document_uid}:{hash}[~n]``."""
    parts = vector_id.split(":", 2)
    return parts[1] if len(parts) == 3 else ""


@dataclass(frozen=True)
class IndexTruth:
    """The comparison of one repository's store, ledger and source at ``commit``."""

    commit: str | None
    store: int
    ledger: int
    expected: int
    missing: list[str]
    orphaned: list[str]
    stale: list[str]
    unrecorded: list[str]
    ledger_drift: bool  # the ledger itself differs from the source: only a full re-ingestion fixes it
    keyword_missing: list[str] = field(default_factory=list)
    keyword_orphaned: list[str] = field(default_factory=list)

    def drifts(self) -> dict[str, list[str]]:
        """Every kind of drift and its ids."""
        return {
            "missing": self.missing,
            "orphaned": self.orphaned,
            "stale": self.stale,
            "unrecorded": self.unrecorded,
            "keyword_missing": self.keyword_missing,
            "keyword_orphaned": self.keyword_orphaned,
        }

    @property
    def ok(self) -> bool:
        """True when the store, the ledger, the keyword index and the source agree exactly."""
        return not any(self.drifts().values())

    def counts(self) -> dict[str, int]:
        """Number of ids in each kind of drift."""
        return {kind: len(ids) for kind, ids in self.drifts().items()}

    def describe(self) -> str:
        """One line naming every drift and its first id, e.g. ``2 missing (e.g. r:d:h), 1 orphaned (e.g. …)``."""
        if self.ok:
            return f"store, ledger, keyword index and source agree ({self.store} vectors)"
        kinds = [(kind.replace("_", " "), ids) for kind, ids in self.drifts().items()]
        return ", ".join(f"{len(ids)} {kind} (e.g. {ids[0]})" for kind, ids in kinds if ids)


def compare_index(
    commit: str | None,
    store: Set[str],
    ledger: Set[str],
    expected: Set[str],
    documents: Set[str],
    keywords: Set[str] | None = None,
) -> IndexTruth:
    """Compare the id sets; ``documents`` are the uids of the repository's catalog documents, ``keywords`` the
    ids with a keyword row (None: not compared).

    Differences are taken before unions, and live documents are derived only when some id is extra: no
    temporary set as large as the repository (at 250,000 chunks each costs tens of MB)."""
    extra = (store - expected) | (ledger - expected)
    live = set(documents) | {document_of(vector_id) for vector_id in expected} if extra else set()
    unrecorded = sorted(expected - ledger)
    return IndexTruth(
        commit=commit,
        store=len(store),
        ledger=len(ledger),
        expected=len(expected),
        missing=sorted((ledger - store) | (expected - store)),
        orphaned=sorted(vector_id for vector_id in extra - ledger if document_of(vector_id) not in live),
        stale=sorted(vector_id for vector_id in extra if document_of(vector_id) in live or vector_id in ledger),
        unrecorded=unrecorded,
        ledger_drift=bool(unrecorded or ledger - expected),
        keyword_missing=sorted(ledger - keywords) if keywords is not None else [],
        keyword_orphaned=sorted(keywords - ledger) if keywords is not None else [],
    )

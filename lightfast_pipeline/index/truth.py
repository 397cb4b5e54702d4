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

Each set is held as sorted 16-byte digests (:mod:`lightfast_pipeline.index.digests`), not as strings: at
250,000 ids the four sets of strings cost 310 MB of Python heap. Only the ids that differ are named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from lightfast_pipeline.index.digests import DIGEST, Listing, chunks, digests_of, member, minus, unique

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


@dataclass(frozen=True)
class Expected:
    """The ids the source yields, as digests, read once (the source may be expensive to read again)."""

    digests: np.ndarray
    documents: np.ndarray  # digests of the ids' document uids
    unrecorded: dict[bytes, str]  # the ids the ledger lacks, by digest: the only ones named from the source

    @classmethod
    def of(cls, ids: Iterable[str], ledger: np.ndarray) -> Expected:
        """Digest ``ids`` in one pass, keeping the strings of those not in ``ledger`` (digests)."""
        parts: list[np.ndarray] = []
        documents: list[np.ndarray] = []
        unrecorded: dict[bytes, str] = {}
        for chunk in chunks(ids):
            part = digests_of(chunk)
            parts.append(np.unique(part))
            documents.append(np.unique(digests_of({document_of(vector_id) for vector_id in chunk})))
            for at in np.flatnonzero(~member(part, ledger)):
                unrecorded[part[at]] = chunk[at]
        return cls(unique(parts), unique(documents), unrecorded)


def compare_index(
    commit: str | None,
    store: Listing,
    ledger: Listing,
    expected: Expected,
    documents: Callable[[], Iterable[str]],
    keywords: Listing | None = None,
) -> IndexTruth:
    """Compare the id sets; ``documents`` reads the uids of the repository's catalog documents, ``keywords`` are
    the ids with a keyword row (None: not compared).

    Set operations run on digests (16 bytes an id); only the ids that differ are named, by reading the store,
    the ledger or the keyword index again, and documents are read only when some id is extra (to tell orphaned
    from stale). An id gone from its source between the two reads is no longer a drift and is left out."""
    held, recorded, yielded = store.digests, ledger.digests, expected.digests
    indexed = keywords.digests if keywords is not None else recorded
    unexpected = minus(recorded, yielded)
    unrecorded = minus(yielded, recorded)
    extra = np.union1d(minus(held, yielded), unexpected)  # unions of differences: small
    missing = np.union1d(minus(recorded, held), minus(yielded, held))
    keyword_missing = minus(recorded, indexed)
    keyword_orphaned = minus(indexed, recorded)
    differing = np.unique(np.concatenate([extra, missing, keyword_missing, keyword_orphaned]))
    names = _names(differing, expected, (ledger, store, keywords))
    in_ledger = member(extra, recorded)
    unowned = _named(extra[~in_ledger], names)
    live = _live({document_of(vector_id) for vector_id in unowned}, expected.documents, documents)
    return IndexTruth(
        commit=commit,
        store=held.size,
        ledger=recorded.size,
        expected=yielded.size,
        missing=_named(missing, names),
        orphaned=[vector_id for vector_id in unowned if document_of(vector_id) not in live],
        stale=sorted(_named(extra[in_ledger], names) + [v for v in unowned if document_of(v) in live]),
        unrecorded=_named(unrecorded, names),
        ledger_drift=bool(unrecorded.size or unexpected.size),
        keyword_missing=_named(keyword_missing, names),
        keyword_orphaned=_named(keyword_orphaned, names),
    )


def _names(wanted: np.ndarray, expected: Expected, listings: tuple[Listing | None, ...]) -> dict[bytes, str]:
    """The ids of the ``wanted`` digests: those the ledger lacks from the source's pass, then each listing read
    again for what is still unnamed (and only if it holds some)."""
    names = dict(expected.unrecorded)
    for listing in listings:
        unnamed = wanted[~np.isin(wanted, np.array(list(names), DIGEST))] if names else wanted
        if listing is not None and unnamed.size:
            names.update(listing.names(unnamed))
    return names


def _named(digests: np.ndarray, names: dict[bytes, str]) -> list[str]:
    """The sorted ids of the digests that were named."""
    return sorted(names[digest] for digest in digests if digest in names)


def _live(wanted: set[str], expected: np.ndarray, documents: Callable[[], Iterable[str]]) -> set[str]:
    """The ``wanted`` document uids that are live: documents of the catalog or of ids the source yields."""
    if not wanted:
        return set()
    ordered = sorted(wanted)
    live = {uid for uid, known in zip(ordered, member(digests_of(ordered), expected), strict=True) if known}
    return live | {uid for uid in documents() if uid in wanted}

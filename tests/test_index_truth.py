"""The index-truth comparison alone (pure): each kind of drift is named by what would fix it, from digests."""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np

from lightfast_pipeline.index.digests import CHUNK, DIGEST, Listing, digest_set, digests_of, member, minus, unique
from lightfast_pipeline.index.truth import Expected, IndexTruth, compare_index, document_of

A1, A2, B1 = "repo:docA:1111", "repo:docA:2222", "repo:docB:3333"
SOURCE = {A1, A2, B1}
DOCUMENTS = {"docA", "docB"}


class Counted:
    """A re-readable source of ids that counts its reads."""

    def __init__(self, ids: Collection[str]) -> None:
        self.ids, self.reads = list(ids), 0

    def __call__(self) -> Iterator[str]:
        self.reads += 1
        return iter(self.ids)


def compare(
    store: Collection[str],
    ledger: Collection[str],
    expected: Collection[str],
    documents: Collection[str] = DOCUMENTS,
    keywords: Collection[str] | None = None,
) -> IndexTruth:
    recorded = Listing.of(Counted(ledger))
    return compare_index(
        "c0ffee",
        Listing.of(Counted(store)),
        recorded,
        Expected.of(iter(expected), recorded.digests),
        Counted(documents),
        Listing.of(Counted(keywords)) if keywords is not None else None,
    )


def test_agreement_is_ok() -> None:
    truth = compare(SOURCE, SOURCE, SOURCE)
    assert truth.ok and not truth.ledger_drift
    assert truth.counts() == {
        "missing": 0,
        "orphaned": 0,
        "stale": 0,
        "unrecorded": 0,
        "keyword_missing": 0,
        "keyword_orphaned": 0,
    }
    assert truth.describe() == "store, ledger, keyword index and source agree (3 vectors)"


def test_agreement_reads_each_source_once_and_no_documents() -> None:
    store, ledger, documents, keywords = Counted(SOURCE), Counted(SOURCE), Counted(DOCUMENTS), Counted(SOURCE)
    recorded = Listing.of(ledger)
    expected = Expected.of(iter(SOURCE), recorded.digests)
    truth = compare_index("c0ffee", Listing.of(store), recorded, expected, documents, Listing.of(keywords))
    assert truth.ok and (store.reads, ledger.reads, documents.reads, keywords.reads) == (1, 1, 0, 1)


def test_keyword_rows_are_compared_with_the_ledger() -> None:
    truth = compare(SOURCE, SOURCE, SOURCE, keywords={A1, A2, "repo:docC:9"})
    assert (truth.keyword_missing, truth.keyword_orphaned) == ([B1], ["repo:docC:9"])
    assert not truth.ok and not truth.ledger_drift
    assert truth.describe() == f"1 keyword missing (e.g. {B1}), 1 keyword orphaned (e.g. repo:docC:9)"


def test_a_ledger_row_without_a_vector_is_missing() -> None:
    truth = compare(SOURCE - {B1}, SOURCE, SOURCE)
    assert (truth.missing, truth.orphaned, truth.stale, truth.unrecorded) == ([B1], [], [], [])
    assert not truth.ok and not truth.ledger_drift
    assert truth.describe() == f"1 missing (e.g. {B1})"


def test_a_vector_of_no_document_is_orphaned() -> None:
    orphan = "repo:gone:4444"
    truth = compare(SOURCE | {orphan}, SOURCE, SOURCE)
    assert (truth.missing, truth.orphaned, truth.stale) == ([], [orphan], [])
    assert not truth.ledger_drift


def test_a_vector_of_an_older_content_hash_of_a_live_document_is_stale() -> None:
    older = "repo:docA:0000"
    truth = compare(SOURCE | {older}, SOURCE, SOURCE)
    assert (truth.missing, truth.orphaned, truth.stale) == ([], [], [older])
    assert not truth.ledger_drift  # only the store drifted: deleting the vector fixes it


def test_a_document_only_the_source_yields_is_live() -> None:
    """A vector of a file the catalog lacks (``?path``) that the source still yields chunks for is stale."""
    unknown, older = "repo:?docs/new.md:5555", "repo:?docs/new.md:0000"
    truth = compare(SOURCE | {unknown, older}, SOURCE, SOURCE | {unknown})
    assert (truth.stale, truth.orphaned, truth.unrecorded) == ([older], [], [unknown])


def test_a_ledger_that_differs_from_the_source_is_ledger_drift() -> None:
    older, newer = "repo:docA:0000", "repo:docA:9999"
    source = (SOURCE - {A2}) | {newer}
    truth = compare(SOURCE | {older}, SOURCE | {older}, source)
    assert truth.stale == sorted([A2, older]) and truth.unrecorded == [newer] and truth.missing == [newer]
    assert truth.ledger_drift


def test_a_file_the_catalog_does_not_know_is_missing_and_unrecorded() -> None:
    unknown = "repo:?docs/new.md:5555"
    truth = compare(SOURCE, SOURCE, SOURCE | {unknown})
    assert truth.missing == [unknown] and truth.unrecorded == [unknown] and truth.ledger_drift


def test_an_id_gone_from_the_store_before_it_is_named_is_left_out() -> None:
    orphan = "repo:gone:4444"
    store = Counted(SOURCE | {orphan})
    listed = Listing.of(store)
    store.ids.remove(orphan)  # deleted between the digest pass and the naming pass
    recorded = Listing.of(Counted(SOURCE))
    truth = compare_index("c0ffee", listed, recorded, Expected.of(iter(SOURCE), recorded.digests), Counted(DOCUMENTS))
    assert truth.ok and truth.store == 4 and store.reads == 2


def test_drift_past_the_first_chunk_of_many_ids_is_named() -> None:
    ids = [f"repo:doc{n % 997}:{n:016x}" for n in range(CHUNK + 1_000)]
    lost, orphan = ids[CHUNK + 10], "repo:gone:ffff"
    truth = compare((set(ids) - {lost}) | {orphan}, ids, ids, {f"doc{n}" for n in range(997)})
    assert (truth.missing, truth.orphaned, truth.stale) == ([lost], [orphan], [])
    assert truth.store == truth.ledger == truth.expected == len(ids)


def test_an_id_whose_digest_ends_in_zero_bytes_is_named() -> None:
    """numpy drops an S16 item's trailing zero bytes: names are keyed by array items, never by hashlib's bytes."""
    zero_ended = next(v for v in (f"repo:docA:{n:04x}" for n in range(100_000)) if digests_of([v]).tobytes()[-1] == 0)
    truth = compare(SOURCE, SOURCE | {zero_ended}, SOURCE | {zero_ended})
    assert truth.missing == [zero_ended]


def test_digest_sets_are_sorted_unique_and_sixteen_bytes_an_id() -> None:
    digests = digest_set(iter(["b", "a", "b", "c" * 500]))
    assert digests.dtype == DIGEST and digests.size == 3 and digests.nbytes == 48
    assert list(digests) == sorted(digests)
    assert member(digests_of(["a", "z"]), digests).tolist() == [True, False]
    assert member(digests_of(["a"]), digest_set(())).tolist() == [False]


def test_unique_merges_parts_and_minus_keeps_what_the_other_set_lacks() -> None:
    parts = [np.unique(digests_of(["c", "a"])), np.unique(digests_of(["b", "a", "c"])), digests_of([])]
    merged = unique(parts)
    assert list(merged) == sorted(digests_of(["a", "b", "c"]))
    assert list(unique([digests_of(["z"])])) == list(digests_of(["z"])) and unique([]).size == 0
    assert list(minus(merged, digest_set(["b", "nowhere"]))) == sorted(digests_of(["a", "c"]))
    assert minus(merged, digest_set(())).size == 3 and minus(digest_set(()), merged).size == 0


def test_a_listing_names_only_the_wanted_ids_and_reads_again_only_if_it_holds_some() -> None:
    source = Counted(["x", "y", "z"])
    listing = Listing.of(source)
    assert listing.names(digest_set(["nowhere"])) == {} and source.reads == 1
    assert sorted(listing.names(digest_set(["y", "nowhere"])).values()) == ["y"] and source.reads == 2


def test_document_of_reads_the_middle_part_of_a_vector_id() -> None:
    assert document_of("r1:d2:abcdef0123456789~2") == "d2"
    assert document_of("malformed") == ""

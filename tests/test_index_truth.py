"""The index-truth comparison alone (pure): each kind of drift is named by what would fix it."""

from __future__ import annotations

from lightfast_pipeline.index.truth import compare_index, document_of

A1, A2, B1 = "repo:docA:1111", "repo:docA:2222", "repo:docB:3333"
SOURCE = {A1, A2, B1}


def test_agreement_is_ok() -> None:
    truth = compare_index("c0ffee", set(SOURCE), set(SOURCE), SOURCE, {"docA", "docB"})
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


def test_keyword_rows_are_compared_with_the_ledger() -> None:
    truth = compare_index("c0ffee", set(SOURCE), set(SOURCE), SOURCE, {"docA", "docB"}, {A1, A2, "repo:docC:9"})
    assert (truth.keyword_missing, truth.keyword_orphaned) == ([B1], ["repo:docC:9"])
    assert not truth.ok and not truth.ledger_drift
    assert truth.describe() == f"1 keyword missing (e.g. {B1}), 1 keyword orphaned (e.g. repo:docC:9)"


def test_a_ledger_row_without_a_vector_is_missing() -> None:
    truth = compare_index("c0ffee", SOURCE - {B1}, set(SOURCE), SOURCE, {"docA", "docB"})
    assert (truth.missing, truth.orphaned, truth.stale, truth.unrecorded) == ([B1], [], [], [])
    assert not truth.ok and not truth.ledger_drift
    assert truth.describe() == f"1 missing (e.g. {B1})"


def test_a_vector_of_no_document_is_orphaned() -> None:
    orphan = "repo:gone:4444"
    truth = compare_index("c0ffee", SOURCE | {orphan}, set(SOURCE), SOURCE, {"docA", "docB"})
    assert (truth.missing, truth.orphaned, truth.stale) == ([], [orphan], [])
    assert not truth.ledger_drift


def test_a_vector_of_an_older_content_hash_of_a_live_document_is_stale() -> None:
    older = "repo:docA:0000"
    truth = compare_index("c0ffee", SOURCE | {older}, set(SOURCE), SOURCE, {"docA", "docB"})
    assert (truth.missing, truth.orphaned, truth.stale) == ([], [], [older])
    assert not truth.ledger_drift  # only the store drifted: deleting the vector fixes it


def test_a_ledger_that_differs_from_the_source_is_ledger_drift() -> None:
    older, newer = "repo:docA:0000", "repo:docA:9999"
    source = (SOURCE - {A2}) | {newer}
    truth = compare_index("c0ffee", set(SOURCE) | {older}, set(SOURCE) | {older}, source, {"docA", "docB"})
    assert truth.stale == sorted([A2, older]) and truth.unrecorded == [newer] and truth.missing == [newer]
    assert truth.ledger_drift


def test_a_file_the_catalog_does_not_know_is_missing_and_unrecorded() -> None:
    unknown = "repo:?docs/new.md:5555"
    truth = compare_index("c0ffee", set(SOURCE), set(SOURCE), SOURCE | {unknown}, {"docA", "docB"})
    assert truth.missing == [unknown] and truth.unrecorded == [unknown] and truth.ledger_drift


def test_document_of_reads_the_middle_part_of_a_vector_id() -> None:
    assert document_of("r1:d2:abcdef0123456789~2") == "d2"
    assert document_of("malformed") == ""

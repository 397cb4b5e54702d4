"""The streamed run plan (issue 15): a merge-join of the tree and the catalog in path order, reads on disk."""

from __future__ import annotations

import pytest

from lightfast_pipeline.index.plan import KnownDocument, merge_tree, pair_renames, path_key
from lightfast_pipeline.ingestion.reads import PlannedRead, PlannedReads
from lightfast_pipeline.ingestion.stages import RunPlan
from lightfast_pipeline.sources.base import MODE_FILE, TreeEntry

CONFIG = "cfg-1"


def tree(*pairs: tuple[str, str]):
    """A tree streamed like git lists it (a generator, in path order)."""
    yield from (TreeEntry(path, blob, 10, MODE_FILE) for path, blob in pairs)


def catalog(*rows: tuple[str, str, str]):
    """The catalog's documents streamed in path order: (path, blob id, uid)."""
    yield from ((path, KnownDocument(blob, CONFIG, uid)) for path, blob, uid in rows)


def plan(entries, known, skipped=None, full=False):
    reads: list[tuple[str, str, str | None]] = []
    merged = merge_tree(entries, known, skipped or {}, CONFIG, lambda *read: reads.append(read), full)
    new = [(path, blob) for path, blob, uid in reads if uid is None]
    renamed, deleted = pair_renames(new, merged.vanished, CONFIG, full)
    return reads, merged, renamed, deleted


def test_merge_over_sorted_streams_sorts_every_path_into_its_bucket() -> None:
    reads, merged, renamed, deleted = plan(
        tree(("a.md", "b1"), ("b.md", "b2-new"), ("bin.md", "b5"), ("c/new.md", "b9"), ("moved/x.md", "b4")),
        catalog(("a.md", "b1", "u1"), ("b.md", "b2", "u2"), ("gone.md", "b7", "u7"), ("old/x.md", "b4", "u4")),
        skipped={"bin.md": "b5"},
    )
    assert reads == [("b.md", "b2-new", "u2"), ("c/new.md", "b9", None), ("moved/x.md", "b4", None)]
    assert merged.unchanged == 1 and merged.skip_known == ["bin.md"]
    assert [path for path, _ in merged.vanished] == ["gone.md", "old/x.md"]
    assert renamed == [("old/x.md", "moved/x.md")] and deleted == ["gone.md"]


def test_a_rename_is_found_whichever_side_of_the_old_path_the_new_one_sorts() -> None:
    # "a/new.md" comes before the vanished "m/old.md", "z/new.md" after "m/old2.md": both are paired.
    _reads, _merged, renamed, deleted = plan(
        tree(("a/new.md", "same"), ("z/new.md", "other")),
        catalog(("m/old.md", "same", "u1"), ("m/old2.md", "other", "u2")),
    )
    assert renamed == [("m/old.md", "a/new.md"), ("m/old2.md", "z/new.md")] and deleted == []


def test_full_reads_every_path_and_pairs_no_rename() -> None:
    reads, merged, renamed, deleted = plan(
        tree(("a.md", "b1"), ("new.md", "b2"), ("skip.md", "b3")),
        catalog(("a.md", "b1", "u1"), ("old.md", "b2", "u2")),
        skipped={"skip.md": "b3"},
        full=True,
    )
    assert reads == [("a.md", "b1", "u1"), ("new.md", "b2", None), ("skip.md", "b3", None)]
    assert merged.unchanged == 0 and renamed == [] and deleted == ["old.md"]


def test_paths_order_as_their_utf8_bytes() -> None:
    paths = ["é.md", "Z.md", "e.md", "a b.md", "a-b.md", "a/b.md", "a.md", "日本.md", "\U0001f600.md", "\ufb01.md"]
    ordered = sorted(paths, key=path_key)
    assert ordered == sorted(paths, key=lambda path: path.encode())
    assert ordered[:6] == ["Z.md", "a b.md", "a-b.md", "a.md", "a/b.md", "e.md"]  # "." (0x2e) before "/" (0x2f)
    reads, merged, _renamed, _deleted = plan(
        tree(*((path, "new") for path in ordered)), catalog(*((path, "old", path) for path in ordered[::2]))
    )
    assert [path for path, _blob, _uid in reads] == ordered and merged.vanished == []
    undecodable = b"caf\xe9.md".decode("utf-8", "surrogateescape")  # a Latin-1 name as git lists it
    assert path_key(undecodable) == b"caf\xe9.md"


@pytest.mark.parametrize("side", ["tree", "catalog"])
def test_a_stream_out_of_path_order_is_refused(side: str) -> None:
    disorder = [("b.md", "b1"), ("a.md", "b2")]
    entries = tree(*disorder) if side == "tree" else tree()
    known = catalog(*((path, blob, path) for path, blob in disorder)) if side == "catalog" else catalog()
    with pytest.raises(ValueError, match=f"the {side} is not in path order"):
        plan(entries, known)


def test_pairing_reads_the_new_paths_only_when_a_document_vanished() -> None:
    def never():
        raise AssertionError("read")
        yield

    assert pair_renames(never(), [], CONFIG) == ([], [])
    stale = [("old.md", KnownDocument("b", "cfg-old", "u"))]  # another config hash: deleted, never paired
    assert pair_renames(never(), stale, CONFIG) == ([], ["old.md"])


def test_planned_reads_live_on_disk_in_order_and_drop_renamed_paths() -> None:
    reads = PlannedReads()
    count = 2_500  # a few chunks of records
    for n in range(count):
        reads.append(f"p/{n:05d}.md", f"blob-{n}", None if n % 2 else f"uid-{n}")
    reads.drop(["p/00003.md", "p/02001.md"])
    assert len(reads) == count - 2
    listed = list(reads)
    assert listed == list(reads)  # read again from the start
    assert listed[:3] == [
        PlannedRead("p/00000.md", "blob-0", "uid-0"),
        PlannedRead("p/00001.md", "blob-1", None),
        PlannedRead("p/00002.md", "blob-2", "uid-2"),
    ]
    assert reads.bytes_on_disk > 0
    assert "p/00003.md" not in {planned.path for planned in listed} and len(listed) == count - 2
    reads.close()
    assert len(reads) == count - 2
    with pytest.raises(ValueError, match="closed"):
        list(reads)


@pytest.mark.parametrize(("files", "sizes"), [(0, [0]), (1, [1]), (6, [3, 3]), (7, [3, 3, 1])])
def test_run_plan_batches_are_read_lazily_and_at_least_one(files: int, sizes: list[int]) -> None:
    run = RunPlan(1, "r", "run", "c", 1, CONFIG, "configured", None)
    for n in range(files):
        run.to_read.append(f"{n}.md", f"b{n}", None)
    batches = run.batches(3)
    assert not isinstance(batches, list)
    assert [len(batch) for batch in batches] == sizes and run.batch_count(3) == len(sizes)

"""plan_tree (documents) and plan_chunks (vector ids): buckets, renames, reuse, dead vectors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lightfast_pipeline.index.chunk_plan import plan_chunks, vector_id
from lightfast_pipeline.index.chunking import ChunkDraft
from lightfast_pipeline.index.hashing import content_hash
from lightfast_pipeline.index.plan import KnownDocument, TreePlan, plan_tree
from lightfast_pipeline.sources.base import MODE_FILE, TreeEntry

CONFIG = "cfg-1"


def entry(path: str, blob: str) -> TreeEntry:
    return TreeEntry(path, blob, 10, MODE_FILE)


def known(blob: str, config_hash: str = CONFIG, uid: str | None = None) -> KnownDocument:
    return KnownDocument(blob_id=blob, config_hash=config_hash, uid=uid or f"uid-{blob}")


def test_every_bucket() -> None:
    entries = [
        entry("same.md", "b1"),
        entry("edited.md", "b2-new"),
        entry("new.md", "b3"),
        entry("moved/here.md", "b4"),
        entry("binary.md", "b5"),
        entry("binary-changed.md", "b6-new"),
        entry("copy.md", "b3"),
    ]
    knowns = {
        "same.md": known("b1"),
        "edited.md": known("b2"),
        "old/here.md": known("b4"),
        "gone.md": known("b7"),
    }
    skipped = {"binary.md": "b5", "binary-changed.md": "b6"}
    plan = plan_tree(entries, knowns, skipped, CONFIG, full=False)
    assert plan.unchanged == ["same.md"]
    assert plan.modified == ["edited.md"]
    assert plan.added == ["binary-changed.md", "copy.md", "new.md"]
    assert plan.renamed == [("old/here.md", "moved/here.md")]
    assert plan.deleted == ["gone.md"]
    assert plan.skip_known == ["binary.md"]
    assert plan.to_read == ["b6-new", "b3", "b2-new"]  # one read for the two copies of b3
    assert plan.counts() == {
        "added": 3,
        "modified": 1,
        "renamed": 1,
        "deleted": 1,
        "unchanged": 1,
        "skip_known": 1,
    }


def test_config_hash_change_modifies_and_blocks_renames() -> None:
    plan = plan_tree(
        [entry("a.md", "b1"), entry("new-b.md", "b2")],
        {"a.md": known("b1"), "b.md": known("b2")},
        {},
        "cfg-2",
    )
    assert plan.modified == ["a.md"]
    assert plan.renamed == []
    assert plan.added == ["new-b.md"]
    assert plan.deleted == ["b.md"]


def test_renames_pair_deterministically_by_path() -> None:
    knowns = {
        "z/old2.md": known("same", uid="u2"),
        "a/old1.md": known("same", uid="u1"),
        "c.md": known("same"),
    }
    entries = [entry("y/new2.md", "same"), entry("b/new1.md", "same"), entry("c.md", "same")]
    first = plan_tree(entries, knowns, {}, CONFIG)
    second = plan_tree(list(reversed(entries)), dict(reversed(list(knowns.items()))), {}, CONFIG)
    assert first == second
    assert first.renamed == [("a/old1.md", "b/new1.md"), ("z/old2.md", "y/new2.md")]
    assert first.unchanged == ["c.md"]
    assert first.to_read == []


def test_more_copies_than_vanished_paths() -> None:
    plan = plan_tree([entry("n1.md", "b"), entry("n2.md", "b")], {"o.md": known("b")}, {}, CONFIG)
    assert plan.renamed == [("o.md", "n1.md")]
    assert plan.added == ["n2.md"]
    assert plan.to_read == ["b"]


def test_full_rereads_everything() -> None:
    plan = plan_tree(
        [entry("same.md", "b1"), entry("moved.md", "b2"), entry("bin.md", "b3")],
        {"same.md": known("b1"), "old.md": known("b2")},
        {"bin.md": "b3"},
        CONFIG,
        full=True,
    )
    assert plan.modified == ["same.md"]
    assert plan.added == ["bin.md", "moved.md"]
    assert plan.deleted == ["old.md"]
    assert plan.renamed == [] and plan.unchanged == [] and plan.skip_known == []
    assert sorted(plan.to_read) == ["b1", "b2", "b3"]


def _paths(plan: TreePlan) -> list[str]:
    return [
        *plan.added,
        *plan.modified,
        *plan.deleted,
        *plan.unchanged,
        *plan.skip_known,
        *(old for old, _ in plan.renamed),
        *(new for _, new in plan.renamed),
    ]


PATHS = st.sampled_from([f"d{n}/f{m}.md" for n in range(3) for m in range(4)])
BLOBS = st.sampled_from(["b1", "b2", "b3", "b4"])
HASHES = st.sampled_from([CONFIG, "cfg-old"])


@settings(max_examples=300, deadline=None)
@given(
    tree=st.dictionaries(PATHS, BLOBS, max_size=12),
    catalog=st.dictionaries(PATHS, st.tuples(BLOBS, HASHES), max_size=12),
    skipped=st.dictionaries(PATHS, BLOBS, max_size=6),
    full=st.booleans(),
)
def test_plan_tree_properties(
    tree: dict[str, str], catalog: dict[str, tuple[str, str]], skipped: dict[str, str], full: bool
) -> None:
    knowns = {path: known(blob, config_hash) for path, (blob, config_hash) in catalog.items()}
    entries = [entry(path, blob) for path, blob in tree.items()]
    plan = plan_tree(entries, knowns, skipped, CONFIG, full)
    paths = _paths(plan)
    assert sorted(paths) == sorted(set(tree) | set(knowns))  # every path in exactly one bucket
    for old, new in plan.renamed:
        assert not full
        assert old in knowns and old not in tree and new in tree and new not in knowns
        assert knowns[old].blob_id == tree[new] and knowns[old].config_hash == CONFIG
    for path in plan.unchanged:
        assert knowns[path].blob_id == tree[path] and knowns[path].config_hash == CONFIG and not full
    for path in plan.skip_known:
        assert skipped[path] == tree[path] and path not in knowns
    assert set(plan.deleted) | {old for old, _ in plan.renamed} == set(knowns) - set(tree)
    wanted = {tree[path] for path in [*plan.added, *plan.modified]}
    assert sorted(plan.to_read) == sorted(wanted) and len(plan.to_read) == len(set(plan.to_read))


# -- chunk plans -------------------------------------------------------------------------------------------


def draft(index: int, text: str) -> ChunkDraft:
    return ChunkDraft(index, "", text, 3, content_hash(text), 0)


def drafts_of(*texts: str) -> list[ChunkDraft]:
    return [draft(index, text) for index, text in enumerate(texts)]


def test_vector_id_format() -> None:
    digest = content_hash("x")
    assert vector_id("r1", "d1", digest, 0) == f"r1:d1:{digest[:16]}"
    assert vector_id("r1", "d1", digest, 2) == f"r1:d1:{digest[:16]}~2"


def test_new_document_embeds_and_repeats_get_occurrence_suffix() -> None:
    plan = plan_chunks("r", "d", drafts_of("a", "b", "a"), {}, lambda _hash: None)
    ha, hb = content_hash("a"), content_hash("b")
    assert plan.vector_ids == [f"r:d:{ha[:16]}", f"r:d:{hb[:16]}", f"r:d:{ha[:16]}~1"]
    assert plan.embed == plan.vector_ids
    assert plan.keep == [] and plan.reuse == [] and plan.dead == []


def test_inserting_a_section_keeps_every_other_chunk() -> None:
    before = plan_chunks("r", "d", drafts_of("a", "b", "c"), {}, lambda _hash: None)
    existing = {vid: d.content_hash for vid, d in zip(before.vector_ids, drafts_of("a", "b", "c"), strict=True)}
    after = plan_chunks("r", "d", drafts_of("a", "new", "b", "c"), existing, lambda _hash: None)
    assert after.keep == before.vector_ids
    assert after.embed == [after.vector_ids[1]]
    assert after.dead == [] and after.reuse == []
    assert after.counts() == {"keep": 3, "reuse": 0, "embed": 1, "dead": 0}


def test_shrunk_document_kills_vectors_and_moved_content_is_reused() -> None:
    old = drafts_of("a", "b", "c")
    before = plan_chunks("r", "d", old, {}, lambda _hash: None)
    existing = {vid: d.content_hash for vid, d in zip(before.vector_ids, old, strict=True)}
    shrunk = plan_chunks("r", "d", drafts_of("a"), existing, lambda _hash: None)
    assert shrunk.keep == before.vector_ids[:1]
    assert shrunk.dead == sorted(before.vector_ids[1:])

    ledger = {d.content_hash: vid for vid, d in zip(before.vector_ids, old, strict=True)}
    moved = plan_chunks("r", "other-doc", drafts_of("c", "a", "z"), {}, ledger.get)
    assert moved.reuse == [
        (moved.vector_ids[0], before.vector_ids[2]),
        (moved.vector_ids[1], before.vector_ids[0]),
    ]
    assert moved.embed == [moved.vector_ids[2]]

"""The chunker with the real MiniLM tokenizer: bounds, structure, overlap, stability, the real corpus."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from lightfast_pipeline.embedders.tokenizer import default_tokenizer_json, token_counter
from lightfast_pipeline.index.chunking import ChunkDraft, chunk_markdown, chunk_text
from lightfast_pipeline.index.hashing import content_hash
from lightfast_pipeline.index.parse import parse_document
from tests.conftest import FIXTURES

COUNT: Callable[[str], int] = token_counter(default_tokenizer_json()).count
MD = MarkdownIt("commonmark").enable("table").disable("inline")  # block structure is enough here
FENCE_LINE = re.compile(r"^[\s>]*(`{3,}|~{3,})")


# -- helpers that check a chunk list independently of the chunker ----------------------------------


def squash(text: str) -> str:
    """Text without fence lines and without any whitespace: what must survive chunking."""
    return re.sub(r"\s+", "", "\n".join(line for line in text.split("\n") if not FENCE_LINE.match(line)))


def source_text(body: str) -> str:
    """The body minus its top-level heading lines (headings travel in the breadcrumb)."""
    heading_lines = {
        line
        for token in MD.parse(body)
        if token.type == "heading_open" and token.level == 0 and token.map
        for line in range(*token.map)
    }
    return "\n".join(line for number, line in enumerate(body.split("\n")) if number not in heading_lines)


def unclosed_fences(text: str) -> list[str]:
    """Fenced code blocks in ``text`` that run to the end without a closing fence."""
    lines = text.split("\n")
    problems = []
    for token in MD.parse(text):
        if token.type != "fence" or token.map is None:
            continue
        start, end = token.map
        last = lines[end - 1].lstrip(" \t>").rstrip() if end - 1 > start else ""
        if not (len(last) >= len(token.markup) and set(last) == {token.markup[0]}):
            problems.append(lines[start])
    return problems


def check_invariants(drafts: list[ChunkDraft], body: str, max_tokens: int) -> None:
    for position, chunk in enumerate(drafts):
        assert chunk.index == position
        assert chunk.token_count == COUNT(chunk.text) <= max_tokens
        assert chunk.content_hash == content_hash(chunk.text)
        assert chunk.text[chunk.body_offset :].strip(), "empty chunk"
        assert not unclosed_fences(chunk.text), chunk.text
    joined = "\n".join(chunk.text[chunk.body_offset :] for chunk in drafts)
    assert squash(joined) == squash(source_text(body)), "text lost, duplicated or reordered"


# -- generated Markdown ----------------------------------------------------------------------------

VOCABULARY = [
    "the", "window", "app", "process", "returns", "a", "Promise", "`string`", "when", "event", "is",
    "emitted",
    "on", "macOS", "only.", "If", "set,", "renderer", "will", "load", "[link](api/app.md)", "**bold**",
    "_note_", "done!", "Electron's", "über", "naïve", "日本語", "1.5", "(optional)", "see:", "path/to/file",
]  # fmt: skip
CODE_WORDS = [
    "const",
    "x",
    "=",
    "require('electron')",
    "{",
    "}",
    "win.loadURL(url)",
    "//",
    "await",
    "42;",
    "if",
]

words = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=30).map(" ".join)
long_word = st.integers(min_value=50, max_value=300).map(lambda n: "x" * n)


@st.composite
def paragraph(draw: st.DrawFn, allow_long_words: bool) -> str:
    lines = draw(st.lists(words, min_size=1, max_size=5))
    if allow_long_words and draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(long_word))
    if draw(st.integers(0, 4)) == 0:  # one very long line (a paragraph without line breaks)
        lines.append(" ".join(draw(st.lists(words, min_size=10, max_size=40))))
    return "\n".join(lines)


@st.composite
def fenced(draw: st.DrawFn, indent: str = "") -> str:
    marker = draw(st.sampled_from(["```", "~~~", "````"]))
    info = draw(st.sampled_from(["", "js", "python", "sh"]))
    code = draw(st.lists(st.lists(st.sampled_from(CODE_WORDS), max_size=12).map(" ".join), max_size=60))
    return "\n".join([f"{indent}{marker}{info}", *(f"{indent}{line}" for line in code), f"{indent}{marker}"])


@st.composite
def table(draw: st.DrawFn) -> str:
    width = draw(st.integers(2, 4))
    cell = st.lists(st.sampled_from(VOCABULARY[:15]), min_size=1, max_size=2).map(" ".join)
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), min_size=1, max_size=30))
    header = "| " + " | ".join(f"col{n}" for n in range(width)) + " |"
    delimiter = "|" + "---|" * width
    return "\n".join([header, delimiter, *("| " + " | ".join(row) + " |" for row in rows)])


@st.composite
def bullet_list(draw: st.DrawFn) -> str:
    items = []
    for _ in range(draw(st.integers(1, 12))):
        item = f"- {draw(words)}"
        if draw(st.integers(0, 3)) == 0:
            item += "\n\n" + draw(fenced(indent="  "))
        items.append(item)
    return "\n".join(items)


@st.composite
def markdown_document(draw: st.DrawFn, allow_long_words: bool = False) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            parts.append("#" * draw(st.integers(1, 4)) + " " + draw(words))
        blocks = st.one_of(paragraph(allow_long_words), fenced(), table(), bullet_list())
        parts.extend(draw(st.lists(blocks, max_size=5)))
    return "\n\n".join(parts) + "\n"


# -- property tests --------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@PROPERTY_SETTINGS
@given(body=markdown_document(), max_tokens=st.integers(64, 256), overlap_share=st.floats(0, 0.5))
def test_markdown_chunks_are_bounded_valid_and_lose_nothing(body: str, max_tokens: int, overlap_share: float) -> None:
    overlap = int(max_tokens * overlap_share)
    drafts = chunk_markdown("Generated Title", body, COUNT, max_tokens, overlap)
    check_invariants(drafts, body, max_tokens)
    rows = {line for line in body.split("\n") if line.startswith("|")}
    for chunk in drafts:
        for line in chunk.text.split("\n"):
            if line.startswith("|"):
                assert line in rows, f"table row cut: {line!r}"
    assert drafts == chunk_markdown("Generated Title", body, COUNT, max_tokens, overlap)  # deterministic


@PROPERTY_SETTINGS
@given(
    body=markdown_document(allow_long_words=True),
    title=st.one_of(st.just(""), words, st.just("t" * 600)),
    max_tokens=st.integers(16, 64),
)
def test_tiny_budgets_and_huge_words_still_fit(body: str, title: str, max_tokens: int) -> None:
    drafts = chunk_markdown(title, body, COUNT, max_tokens, max_tokens // 4)
    check_invariants(drafts, body, max_tokens)


@PROPERTY_SETTINGS
@given(
    paragraphs=st.lists(paragraph(allow_long_words=True), min_size=1, max_size=12),
    max_tokens=st.integers(16, 256),
)
def test_plain_text_chunks_are_bounded_and_lose_nothing(paragraphs: list[str], max_tokens: int) -> None:
    body = "\n\n\n".join(paragraphs)
    drafts = chunk_text("notes", body, COUNT, max_tokens, max_tokens // 8)
    for chunk in drafts:
        assert chunk.token_count == COUNT(chunk.text) <= max_tokens
        assert chunk.heading_path == ""
        assert chunk.text.startswith("notes\n\n")
    assert squash("\n".join(chunk.text[chunk.body_offset :] for chunk in drafts)) == squash(body)


@PROPERTY_SETTINGS
@given(
    sentences=st.lists(st.lists(st.sampled_from(VOCABULARY), min_size=5, max_size=20), min_size=30, max_size=80),
    overlap=st.integers(1, 40),
)
def test_overlap_comes_from_the_end_of_the_previous_piece(sentences: list[list[str]], overlap: int) -> None:
    body = "## Section\n\n" + " ".join(" ".join(sentence) + "." for sentence in sentences) + "\n"
    drafts = chunk_markdown("Doc", body, COUNT, 96, overlap)
    assert len(drafts) >= 2
    for previous, chunk in itertools.pairwise(drafts):
        head = "Doc > Section\n\n"
        assert chunk.text.startswith(head)
        lead = chunk.text[len(head) : chunk.body_offset].split()
        assert COUNT(" ".join(lead)) - COUNT("") <= overlap
        previous_words = previous.text[previous.body_offset :].split()
        assert lead == previous_words[len(previous_words) - len(lead) :]


# -- behaviour on hand-written documents -----------------------------------------------------------


def test_heading_paths_breadcrumbs_and_no_merging_of_sections() -> None:
    body = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### On Linux\n\nUse apt.\n\n## Empty\n\n## Use\n\nCall it.\n"
    drafts = chunk_markdown("Guide", body, COUNT, 256, 32)
    assert [(d.heading_path, d.text) for d in drafts] == [
        ("", "Guide\n\nIntro."),
        ("Install", "Guide > Install\n\nRun it."),
        ("Install > On Linux", "Guide > Install > On Linux\n\nUse apt."),
        ("Use", "Guide > Use\n\nCall it."),
    ]
    assert all(d.body_offset == d.text.index("\n\n") + 2 for d in drafts)


def test_h1_different_from_title_and_setext_headings_are_kept() -> None:
    body = "Other Name\n==========\n\nText.\n\nPart\n----\n\nMore text.\n"
    drafts = chunk_markdown("Front matter title", body, COUNT, 256, 0)
    assert [d.heading_path for d in drafts] == ["Other Name", "Other Name > Part"]
    assert drafts[1].text == "Front matter title > Other Name > Part\n\nMore text."


def test_heading_only_and_empty_documents_have_no_chunks() -> None:
    assert chunk_markdown("T", "# T\n\n## A\n\n### B\n", COUNT, 256, 0) == []
    assert chunk_markdown("T", "\n\n  \n", COUNT, 256, 0) == []
    assert chunk_text("T", "", COUNT, 256, 0) == []


def test_large_code_block_is_split_between_lines_and_refenced() -> None:
    code = [f"const value{n} = compute({n}, 'some argument', anotherArgument{n})" for n in range(120)]
    body = "## Example\n\nBefore the code.\n\n```js\n" + "\n".join(code) + "\n```\n\nAfter the code.\n"
    drafts = chunk_markdown("Doc", body, COUNT, 128, 16)
    check_invariants(drafts, body, 128)
    code_chunks = [d for d in drafts if "const value" in d.text]
    assert len(code_chunks) > 3
    for chunk in code_chunks:
        fenced_part = chunk.text[chunk.text.index("```js") :]
        lines = fenced_part.split("\n")
        assert (lines[0] == "```js" and lines[-1] == "```") or "After the code." in chunk.text
        assert all(line in code for line in lines[1:-1] if line.startswith("const"))
    seen = [line for d in code_chunks for line in d.text[d.body_offset :].split("\n") if line.startswith("const")]
    assert seen == code  # every line exactly once, in order (no overlap inside code)


def test_fence_nested_in_a_list_stays_whole() -> None:
    items = [f"- item {n} with some words to make it longer than a few tokens" for n in range(40)]
    items.insert(20, "- item with code\n\n  ```sh\n  npm install electron --save-dev\n  npm start\n  ```")
    body = "\n".join(items) + "\n"
    drafts = chunk_markdown("Doc", body, COUNT, 96, 8)
    check_invariants(drafts, body, 96)
    holder = [d for d in drafts if "npm install" in d.text]
    assert len(holder) == 1 and "npm start" in holder[0].text


def test_table_is_split_between_rows() -> None:
    rows = [f"| `option{n}` | string | The value of option number {n} |" for n in range(60)]
    body = "| Name | Type | Description |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    drafts = chunk_markdown("Options", body, COUNT, 100, 20)
    check_invariants(drafts, body, 100)
    assert len(drafts) > 3
    emitted = [line for d in drafts for line in d.text[d.body_offset :].split("\n") if line.startswith("| `")]
    assert emitted == rows


def test_inserting_a_section_keeps_the_other_chunks() -> None:
    sections = [f"## Part {n}\n\n" + " ".join(["Some words about this part."] * (n + 5)) for n in range(8)]
    before = chunk_markdown("Doc", "\n\n".join(sections), COUNT, 128, 16)
    edited = [*sections[:4], "## Inserted\n\nA brand new section.", *sections[4:]]
    after = chunk_markdown("Doc", "\n\n".join(edited), COUNT, 128, 16)
    assert {d.content_hash for d in before} <= {d.content_hash for d in after}
    assert len(after) == len(before) + 1


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens must be at least 16"):
        chunk_markdown("T", "text", COUNT, 8, 0)
    with pytest.raises(ValueError, match="overlap must be between 0 and max_tokens / 2"):
        chunk_markdown("T", "text", COUNT, 100, 60)


def test_counting_is_linear_in_the_text() -> None:
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return COUNT(text)

    body = "\n\n".join(f"Paragraph {n}. " + "More words in this paragraph. " * 12 for n in range(400))
    drafts = chunk_markdown("Doc", body, counting, 256, 32)
    assert calls < 400 + 6 * len(drafts)


# -- the real corpus -------------------------------------------------------------------------------


@pytest.mark.shared_fixtures
def test_real_corpus_chunks_within_bounds() -> None:
    root = FIXTURES / "corpus-small"
    files = sorted((root / "docs").rglob("*.md"))
    assert len(files) == 298
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return COUNT(text)

    total = 0
    for path in files:
        relative = str(path.relative_to(root))
        document = parse_document(relative, path.read_text(encoding="utf-8"))
        drafts = chunk_markdown(document.title, document.body, counting, 256, 32)
        assert drafts or not document.body.strip(), relative
        check_invariants(drafts, document.body, 256)
        assert all(d.text.startswith(document.title) for d in drafts)
        total += len(drafts)
    assert 3500 < total < 6000
    assert calls < 6 * total  # no quadratic re-counting


def test_long_list_is_cut_between_items() -> None:
    items = [
        f"* `option{n}` string (optional) - What option {n} does, explained on\n  a second wrapped line."
        for n in range(40)
    ]
    body = "* `options` Object\n" + "\n".join("  " + item.replace("\n", "\n  ") for item in items) + "\n"
    drafts = chunk_markdown("API", body, COUNT, 128, 0)
    check_invariants(drafts, body, 128)
    assert len(drafts) > 3
    for chunk in drafts:
        own = chunk.text[chunk.body_offset :]
        assert own.count("a second wrapped line.") == own.count("string (optional)")  # items stay whole


def test_unbroken_text_is_cut_by_characters_in_linear_counts() -> None:
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return COUNT(text)

    blob = "".join('{"k":[1,2],"v":"abc"},' for _ in range(1500))  # minified JSON: no whitespace at all
    drafts = chunk_text("data.json", blob, counting, 128, 16)
    assert "".join(d.text[d.body_offset :] for d in drafts) == blob
    assert all(d.token_count == COUNT(d.text) <= 128 for d in drafts)
    assert calls < 12 * len(drafts)

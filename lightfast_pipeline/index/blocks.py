"""Markdown and plain text as sections of blocks: line ranges, nested blocks, heading paths.

Every non-blank line of a document lands in exactly one top-level block of exactly one section (heading
lines excepted: they become the section's heading path), so a chunker working on blocks loses nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.token import Token

from lightfast_pipeline.index.markdown import parse_tokens

FENCE_START = re.compile(r"^(`{3,}|~{3,})")
_NOT_PROSE = frozenset({"fence", "code_block", "table", "html_block", "hr"})


@dataclass(frozen=True)
class Block:
    """A block as a line range [start, end) of the document, with the blocks nested in it."""

    start: int
    end: int
    prose: bool
    fence: str = ""  # the fence marker when this is fenced code
    children: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Section:
    """The blocks under one heading path (headings below the title, outermost first)."""

    headings: tuple[str, ...]
    blocks: list[Block]


def normalise(text: str) -> str:
    """Whitespace runs collapsed to one space (headings and titles in breadcrumbs)."""
    return " ".join(text.split())


def is_closing_fence(line: str, markup: str) -> bool:
    """Whether ``line`` closes a fence opened with ``markup`` (quote markers and indentation allowed)."""
    stripped = line.lstrip(" \t>").rstrip()
    return len(stripped) >= len(markup) and set(stripped) == {markup[0]}


def _fence_like_ranges(lines: list[str], start: int, end: int) -> list[Block]:
    """Fence-looking line pairs the parser does not see as code (inside HTML blocks, e.g. comments).

    Cutting between such a pair would let the second line open a code block in the next chunk.
    """
    ranges: list[Block] = []
    opened: tuple[int, str] | None = None
    for number in range(start, end):
        marker = FENCE_START.match(lines[number].lstrip(" \t"))
        if opened is None and marker:
            opened = (number, marker.group(1))
        elif opened is not None and is_closing_fence(lines[number], opened[1]):
            ranges.append(Block(opened[0], number + 1, False, opened[1]))
            opened = None
    if opened is not None:
        ranges.append(Block(opened[0], end, False, opened[1]))
    return ranges


def span(lines: list[str], start: int, end: int) -> tuple[int, int]:
    """The range without its leading and trailing blank lines (empty when all are blank)."""
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return start, end


def _block_tree(lines: list[str]) -> list[tuple[Block, tuple[int, str] | None]]:
    """Top-level blocks of a Markdown document in order, with (level, text) for headings."""
    stack: list[tuple[Token | None, list[Block]]] = [(None, [])]
    top: list[tuple[Block, tuple[int, str] | None]] = []
    heading_text = ""

    def add(token: Token, children: list[Block]) -> None:
        assert token.map is not None
        start, end = span(lines, *token.map)
        if end <= start:
            return
        kind = token.type.removesuffix("_open")
        if kind == "html_block":
            children = _fence_like_ranges(lines, start, end)
        elif kind == "table":
            children = []  # a table is cut between its rows (lines)
        block = Block(start, end, kind not in _NOT_PROSE, token.markup if kind == "fence" else "", tuple(children))
        if len(stack) > 1:
            stack[-1][1].append(block)
        else:
            top.append((block, (int(token.tag[1:]), heading_text) if kind == "heading" else None))

    for token in parse_tokens("\n".join(lines), inline=False):
        if token.nesting == 1:
            stack.append((token, []))
        elif token.nesting == -1:
            opened, children = stack.pop()
            if opened is not None and opened.map is not None:
                add(opened, children)
        elif token.type == "inline":
            heading_text = normalise(token.content)
        elif token.map is not None:
            add(token, [])
    return top


def markdown_sections(title: str, lines: list[str]) -> list[Section]:
    """Split a document into sections by top-level headings; every other non-blank line lands in a block."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    blocks: list[Block] = []
    covered = 0

    def claim_gap(end: int) -> None:  # lines no block claims (link reference definitions) are kept
        start, stop = span(lines, covered, end)
        if stop > start:
            blocks.append(Block(start, stop, False))

    def headings() -> tuple[str, ...]:
        return tuple(name for level, name in stack if name and not (level == 1 and name == normalise(title)))

    for block, heading in _block_tree(lines):
        claim_gap(block.start)
        covered = max(covered, block.end)
        if heading is None:
            blocks.append(block)
            continue
        sections.append(Section(headings(), blocks))
        blocks = []
        while stack and stack[-1][0] >= heading[0]:
            stack.pop()
        stack.append(heading)
    claim_gap(len(lines))
    sections.append(Section(headings(), blocks))
    return sections


def split_lines(body: str) -> list[str]:
    """Lines of a text with any newline convention."""
    return body.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def text_sections(lines: list[str]) -> list[Section]:
    """A plain text document as one untitled section of paragraphs (runs of non-blank lines)."""
    blocks: list[Block] = []
    start = 0
    for number in range(len(lines) + 1):
        if number == len(lines) or not lines[number].strip():
            first, end = span(lines, start, number)
            if end > first:
                blocks.append(Block(first, end, True))
            start = number + 1
    return [Section((), blocks)]

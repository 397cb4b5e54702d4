"""Structure-aware chunking of Markdown and plain text, bounded by the embedding model's own token count.

Decisions (docs/architecture.md, "Chunk text and hashes"):

- A chunk belongs to exactly one section (the text under one heading path). Small adjacent sections are not
  merged: a chunk's heading path stays exact, and editing one section never changes a neighbour's chunk
  (so its vector id, which is keyed by content, survives the edit).
- ``text`` = breadcrumb (title > h1 > h2 …) + blank line + body; ``token_count(text) <= max_tokens`` always.
  A breadcrumb longer than half the budget is shortened to its last heading, then cut.
- A section that fits is one chunk. Otherwise it is cut between top-level blocks first; a block that does
  not fit is cut between the blocks nested in it (list items, their paragraphs and sub-lists, quoted
  blocks), recursively, then between its own lines, then sentences, words and, as a last resort,
  characters. A fenced code block (wherever it is nested, or a fence-looking pair inside an HTML comment)
  is never cut unless it alone exceeds a chunk: then it is cut between lines and every piece is re-fenced
  (opening line repeated, closing fence added), so each chunk stays valid Markdown; only when the budget
  cannot hold twice the fence lines (tiny ``max_tokens``) are the code lines kept without fences. Table
  rows are lines, so a table is only ever cut between rows (the header is not repeated).
- Each piece after the first of a section starts with up to ``overlap`` tokens of trailing words of the
  previous piece, taken from prose only (never from code or tables, where a copied tail would break the
  markup), and only when it fits.
- Counting is linear: a section is counted once; only sections that do not fit are counted per block (and
  per nested block or line of the blocks that do not fit), then each emitted chunk once more to verify the
  bound (the Electron docs corpus tokenizes ~2.5x its size). Unit costs are additive for WordPiece
  tokenizers (MiniLM); for other tokenizers the verification shrinks a chunk until the real count fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lightfast_pipeline.index.blocks import (
    FENCE_START,
    Block,
    Section,
    is_closing_fence,
    markdown_sections,
    normalise,
    split_lines,
    text_sections,
)
from lightfast_pipeline.index.hashing import content_hash

MIN_MAX_TOKENS = 16
BREADCRUMB_SEPARATOR = " > "

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_WHITESPACE = re.compile(r"\s+")
_MAX_CHARS_PER_TOKEN = 32


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk: ``text`` is embedded, ``text[body_offset:]`` is its own content (no breadcrumb or overlap)."""

    index: int
    heading_path: str
    text: str
    token_count: int
    content_hash: str
    body_offset: int


@dataclass
class _Unit:
    """The smallest piece the packer moves: it is never cut again unless it alone exceeds the bound."""

    text: str
    cost: int  # tokens it adds to a chunk
    joiner: str  # text between this unit and the previous one in a chunk
    prose: bool
    resplit: Callable[[int], list[_Unit]]  # the same text as smaller units, each costing <= the budget


def _surely_over(text: str, budget: int) -> bool:
    """More words than tokens allowed: every word costs at least one token, so counting is wasted.

    Only a shortcut: if a tokenizer ever merged words, the text is split and the pieces are packed
    together again, with the same result.
    """
    return len(text) > budget and len(text.split()) > budget


def _glue_fence_starts(parts: list[str]) -> list[str]:
    """Never start a part with a fence marker (it would open a code block at the start of a chunk)."""
    glued: list[str] = []
    for part in parts:
        if glued and FENCE_START.match(part):
            glued[-1] = f"{glued[-1]} {part}"
        else:
            glued.append(part)
    return glued


class _Chunker:
    def __init__(self, count_tokens: Callable[[str], int], max_tokens: int, overlap: int) -> None:
        if max_tokens < MIN_MAX_TOKENS:
            raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {max_tokens}")
        if not 0 <= overlap <= max_tokens // 2:
            raise ValueError(f"overlap must be between 0 and max_tokens / 2, got {overlap}")
        self.count = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.base = count_tokens("")  # special tokens every text carries

    def cost(self, text: str) -> int:
        return self.count(text) - self.base

    # -- breadcrumb ---------------------------------------------------------------------------------------

    def head(self, parts: list[str]) -> tuple[str, int]:
        """Breadcrumb line plus blank line, costing at most half the budget, and its token count."""
        parts = [part for part in parts if part]
        if not parts:
            return "", self.base
        limit = self.max_tokens // 2
        head = BREADCRUMB_SEPARATOR.join(parts) + "\n\n"
        tokens = self.count(head)
        if tokens > limit:
            head = self._longest_prefix(parts[-1], limit - self.base).strip()
            head = f"{head}\n\n" if head else ""
            tokens = self.count(head)
        return head, tokens

    # -- splitting into units -------------------------------------------------------------------------------

    def _longest_prefix(self, text: str, budget: int, guess: int = 0) -> str:
        """Longest prefix of ``text`` costing <= budget (empty if one character costs more).

        Searches outward from ``guess`` (the previous piece's length) in growing steps, then bisects: a
        few counts per piece over a capped window, so cutting a huge unbroken string stays linear.
        """
        limit = min(len(text), _MAX_CHARS_PER_TOKEN * max(budget, 1))
        probe = max(1, min(guess or 4 * budget, limit))
        step = max(1, probe // 32)
        low, high = 0, limit  # text[:low] fits; nothing longer than text[:high] does
        if self.cost(text[:probe]) <= budget:
            low = probe
            while low < high:
                candidate = min(low + step, high)
                if self.cost(text[:candidate]) > budget:
                    high = candidate - 1
                    break
                low, step = candidate, step * 2
        else:
            high = probe - 1
            while high > 0:
                candidate = max(high - step, 0)
                if candidate == 0 or self.cost(text[:candidate]) <= budget:
                    low = candidate
                    break
                high, step = candidate - 1, step * 2
        while low < high:
            middle = (low + high + 1) // 2
            if self.cost(text[:middle]) <= budget:
                low = middle
            else:
                high = middle - 1
        return text[:low]

    def text_units(self, text: str, budget: int, joiner: str, prose: bool, level: int = 0) -> list[_Unit]:
        """``text`` as units of at most ``budget``: sentences, then words, then characters."""
        cost = self.cost(text)
        if cost <= budget:
            return [self._unit(text, cost, joiner, prose)]
        if budget <= 0:
            raise ValueError("max_tokens leaves no room for any text next to the breadcrumb")
        splitters = (_SENTENCE_END, _WHITESPACE)
        while level < len(splitters):
            parts = _glue_fence_starts([part for part in splitters[level].split(text.strip()) if part])
            level += 1
            if len(parts) > 1:
                units: list[_Unit] = []
                for position, part in enumerate(parts):
                    units.extend(self.text_units(part, budget, joiner if position == 0 else " ", prose, level))
                return units
        units = []
        rest = text
        piece = ""
        while rest:
            piece = self._longest_prefix(rest, budget, len(piece))
            if not piece:
                raise ValueError(f"a single character costs more than {budget} tokens")
            units.append(self._unit(piece, self.cost(piece), joiner if not units else "", prose))
            rest = rest[len(piece) :]
        return units

    def _unit(self, text: str, cost: int, joiner: str, prose: bool) -> _Unit:
        return _Unit(text, cost, joiner, prose, lambda budget: self.text_units(text, budget, joiner, prose))

    def fence_units(self, lines: list[str], markup: str, budget: int, joiner: str) -> list[_Unit]:
        """A fenced block as re-fenced pieces of whole lines (a line longer than a piece is cut)."""
        text = "\n".join(lines)
        cost = self.cost(text)
        if cost <= budget:
            return [
                _Unit(
                    text,
                    cost,
                    joiner,
                    False,
                    lambda smaller: self.fence_units(lines, markup, smaller, joiner),
                )
            ]
        opener = lines[0]
        prefix = opener[: opener.find(markup)] if markup in opener else ""
        if len(lines) > 1 and is_closing_fence(lines[-1], markup):
            closer, inner = lines[-1], lines[1:-1]
        else:
            closer, inner = re.sub(r"[^>\s]", " ", prefix) + markup, lines[1:]
        frame = self.cost(f"{opener}\n{closer}")
        if frame * 2 > budget:  # no room to repeat the fence lines: keep the code as plain lines, unfenced
            return [unit for line in inner for unit in self.text_units(line, budget, "\n", False) if line.strip()]
        inner_budget = budget - frame
        pieces: list[list[str]] = [[]]
        piece_cost = 0
        for line in inner:
            # A cut code line keeps its indentation (and quote markers), or it would end a nested fence.
            indent = line[: len(line) - len(line.lstrip(" \t>"))]
            indent_cost = self.cost(indent) if indent.strip() else 0
            for unit in self.text_units(line[len(indent) :], inner_budget - indent_cost, "\n", False):
                if pieces[-1] and piece_cost + unit.cost + indent_cost > inner_budget:
                    pieces.append([])
                    piece_cost = 0
                pieces[-1].append(indent + unit.text)
                piece_cost += unit.cost + indent_cost
        units = []
        for position, piece in enumerate(pieces):
            piece_lines = [opener, *piece, closer]
            piece_text = "\n".join(piece_lines)
            units.append(
                _Unit(
                    piece_text,
                    self.cost(piece_text),
                    joiner if position == 0 else "\n",
                    False,
                    lambda smaller, piece_lines=piece_lines: self.fence_units(piece_lines, markup, smaller, "\n"),
                )
            )
        return units

    def block_units(self, lines: list[str], block: Block, budget: int, joiner: str) -> list[_Unit]:
        """A block as one unit; when it does not fit, its nested blocks (list items…) and loose lines."""
        text = "\n".join(lines[block.start : block.end])
        cost = self.cost(text) if not _surely_over(text, budget) else budget + 1
        if cost <= budget:
            resplit = partial(self.block_units, lines, block, joiner=joiner)
            return [_Unit(text, cost, joiner, block.prose, lambda smaller: resplit(budget=smaller))]
        if block.fence:
            return self.fence_units(lines[block.start : block.end], block.fence, budget, joiner)
        units: list[_Unit] = []
        line = block.start
        for child in (*block.children, None):
            stop = child.start if child is not None else block.end
            for number in range(line, stop):
                if lines[number].strip():
                    units.extend(
                        self.text_units(lines[number], budget, _joiner(lines, number, joiner, units), block.prose)
                    )
            if child is not None:
                units.extend(self.block_units(lines, child, budget, _joiner(lines, child.start, joiner, units)))
                line = max(stop, child.end)
        return units

    # -- packing ------------------------------------------------------------------------------------------

    def _tail(self, unit: _Unit) -> str:
        """About ``overlap`` tokens (never more) of the unit's trailing words."""
        words = unit.text.split()
        take = len(words)
        cost = unit.cost
        while take and cost > self.overlap:
            # Shrink in proportion to the excess: one or two counts instead of a search.
            take = min(take - 1, take * self.overlap // max(cost, 1))
            cost = self.cost(" ".join(words[len(words) - take :])) if take else 0
        tail = words[len(words) - take :] if take else []
        while tail and FENCE_START.match(tail[0]):
            tail.pop(0)
        return " ".join(tail)

    def pack(self, head: str, head_tokens: int, units: list[_Unit]) -> list[tuple[str, int, int]]:
        """Pieces of a section as (text, token count, offset of the new content in the text)."""
        budget = self.max_tokens - head_tokens
        pieces: list[tuple[str, int, int]] = []
        previous: _Unit | None = None
        position = 0
        while position < len(units):
            lead = self._tail(previous) if previous is not None and previous.prose and self.overlap else ""
            lead_cost = self.cost(lead) if lead else 0
            if lead and lead_cost + units[position].cost > budget:
                lead, lead_cost = "", 0
            end, total = position, lead_cost
            while end < len(units) and (end == position or total + units[end].cost <= budget):
                total += units[end].cost
                end += 1
            while True:
                taken = units[position:end]
                body = taken[0].text + "".join(unit.joiner + unit.text for unit in taken[1:])
                prefix = f"{lead}{taken[0].joiner}" if lead else ""
                text = f"{head}{prefix}{body}"
                tokens = self.count(text)
                if tokens <= self.max_tokens:
                    break
                if end - position > 1:  # the estimate was low (a tokenizer whose costs are not additive)
                    end -= 1
                elif lead:
                    lead = ""
                else:
                    over = units[position]
                    units[position:end] = over.resplit(over.cost - (tokens - self.max_tokens))
                    end = position + 1
            if body.strip():
                pieces.append((text, tokens, len(head) + len(prefix)))
            previous = units[end - 1]
            position = end
        return pieces

    def chunk_sections(self, title: str, lines: list[str], sections: list[Section]) -> list[ChunkDraft]:
        """Chunks of every section of a document whose text is ``lines``."""
        drafts: list[ChunkDraft] = []
        for section in sections:
            if not section.blocks:
                continue
            headings = list(section.headings)
            parts = [normalise(title), *headings]
            whole_head = BREADCRUMB_SEPARATOR.join(part for part in parts if part)
            whole_head = f"{whole_head}\n\n" if whole_head else ""
            whole = whole_head + "\n\n".join("\n".join(lines[block.start : block.end]) for block in section.blocks)
            tokens = self.count(whole) if not _surely_over(whole, self.max_tokens - self.base) else 0
            if 0 < tokens <= self.max_tokens:
                pieces = [(whole, tokens, len(whole_head))]
            else:
                head, head_tokens = self.head(parts)
                budget = self.max_tokens - head_tokens
                units = [unit for block in section.blocks for unit in self.block_units(lines, block, budget, "\n\n")]
                pieces = self.pack(head, head_tokens, units)
            heading_path = BREADCRUMB_SEPARATOR.join(headings)
            for text, count, offset in pieces:
                drafts.append(ChunkDraft(len(drafts), heading_path, text, count, content_hash(text), offset))
        return drafts


def _joiner(lines: list[str], start: int, first: str, units: list[_Unit]) -> str:
    """What goes before a unit starting at line ``start``: a blank line if the source had one there."""
    if not units:
        return first
    return "\n\n" if start > 0 and not lines[start - 1].strip() else "\n"


def chunk_markdown(
    title: str, body: str, count_tokens: Callable[[str], int], max_tokens: int, overlap: int
) -> list[ChunkDraft]:
    """Chunks of a Markdown body (front matter already removed), in document order."""
    lines = split_lines(body)
    return _Chunker(count_tokens, max_tokens, overlap).chunk_sections(title, lines, markdown_sections(title, lines))


def chunk_text(
    title: str, body: str, count_tokens: Callable[[str], int], max_tokens: int, overlap: int
) -> list[ChunkDraft]:
    """Chunks of a plain text file: one section, cut between paragraphs, then lines, sentences, words."""
    lines = split_lines(body)
    return _Chunker(count_tokens, max_tokens, overlap).chunk_sections(title, lines, text_sections(lines))

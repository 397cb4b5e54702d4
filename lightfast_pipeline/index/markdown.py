"""The one Markdown parser of the index: CommonMark plus GitHub tables, as a token stream with line maps."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark").enable("table")
# Block structure only (inline tokens keep their raw ``content`` but get no children): twice as fast.
_BLOCK_PARSER = MarkdownIt("commonmark").enable("table").disable("inline")


def parse_tokens(text: str, *, inline: bool = True) -> list[Token]:
    """Tokens of ``text``; block tokens carry ``map`` = [first line, line after last] (0-based)."""
    return (_PARSER if inline else _BLOCK_PARSER).parse(text)

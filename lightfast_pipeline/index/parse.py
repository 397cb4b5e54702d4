"""Parse one document: front matter, title, body and its relationships (links and issue references)."""

from __future__ import annotations

import datetime
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import frontmatter
import yaml
from markdown_it.token import Token

from lightfast_pipeline.index.markdown import parse_tokens

_YAML_FRONTMATTER = frontmatter.YAMLHandler()
# `#123` or `owner/repo#123`, not glued to a preceding word, path or URL (`page#123`, `a/b/c#1`).
_ISSUE_REFERENCE = re.compile(
    r"(?<![\w/#.\-])((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100})?#[0-9]{1,9})(?![\w#])"
)


@dataclass(frozen=True)
class ParsedDocument:
    """A document split into front matter and body, with its title and relationships."""

    title: str
    frontmatter: dict[str, Any]
    body: str
    relationships: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)


# Front matter is stored in the catalog as JSON. YAML aliases share one object among many places, so a few
# hundred bytes can expand to gigabytes (an "alias bomb") or refer to themselves (``a: &a [*a]``): conversion
# stops at these bounds and the document is indexed without its front matter, with a warning.
MAX_FRONTMATTER_NODES = 10_000
MAX_FRONTMATTER_DEPTH = 32


class _FrontMatterTooLarge(ValueError):
    """Front matter that would expand beyond the bounds above."""


def _json_safe(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """Front matter as JSON-storable values (dates become ISO strings, unknown objects strings), bounded."""
    budget = budget if budget is not None else [MAX_FRONTMATTER_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_FRONTMATTER_DEPTH:
        raise _FrontMatterTooLarge
    if isinstance(value, dict):
        return {str(key): _json_safe(item, budget, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(item, budget, depth + 1) for item in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def split_frontmatter(text: str) -> tuple[dict[str, Any], str, list[str]]:
    """``(front matter, body, warnings)``; invalid front matter leaves the whole text as the body."""
    if not _YAML_FRONTMATTER.detect(text):
        return {}, text, []
    try:
        raw, body = _YAML_FRONTMATTER.split(text)
        data = _YAML_FRONTMATTER.load(raw)
    except ValueError:
        return {}, text, ["front matter: no closing '---'; read as body"]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        return {}, text, [f"front matter: invalid YAML{where}; read as body"]
    except RecursionError:
        return {}, text, ["front matter: nested too deeply; read as body"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, text, [f"front matter: a {type(data).__name__}, not a mapping; read as body"]
    try:
        metadata = _json_safe(data)
    except _FrontMatterTooLarge:
        limits = f"{MAX_FRONTMATTER_NODES} values or {MAX_FRONTMATTER_DEPTH} levels"
        return {}, body.lstrip("\r\n"), [f"front matter: expands beyond {limits} (aliases?); ignored"]
    return metadata, body.lstrip("\r\n"), []


def _inline_runs(tokens: list[Token]) -> list[Token]:
    return [token for token in tokens if token.type == "inline" and token.children]


def _first_h1(tokens: list[Token]) -> str | None:
    for position, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1" and token.level == 0:
            title = " ".join(tokens[position + 1].content.split())
            if title:
                return title
    return None


def _title(path: str, metadata: dict[str, Any], tokens: list[Token]) -> str:
    declared = metadata.get("title")
    if declared is not None and str(declared).strip():
        return " ".join(str(declared).split())
    return _first_h1(tokens) or posixpath.splitext(posixpath.basename(path))[0]


def _resolve_link(path: str, href: str) -> str | None:
    """Repository-relative target of a relative link, or None (external, same-page anchor, outside)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith("//"):
        return None
    target = unquote(parts.path)
    if not target:
        return None
    if target.startswith("/"):
        resolved = posixpath.normpath(target.lstrip("/"))
    else:
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved in (".", "") or resolved == ".." or resolved.startswith("../"):
        return None
    return resolved


def _links(path: str, inline_tokens: list[Token]) -> list[str]:
    found: set[str] = set()
    for inline in inline_tokens:
        for child in inline.children or []:
            if child.type == "link_open":
                target = _resolve_link(path, str(child.attrs.get("href", "")))
                if target is not None and target != path:
                    found.add(target)
    return sorted(found)


def _issues(inline_tokens: list[Token]) -> list[str]:
    found: set[str] = set()
    for inline in inline_tokens:
        # Join the plain text of the run; code spans, HTML and images become a space (never a reference).
        text = "".join(
            child.content if child.type == "text" else "\n" if child.type in ("softbreak", "hardbreak") else " "
            for child in inline.children or []
        )
        found.update(match.group(1) for match in _ISSUE_REFERENCE.finditer(text))
    return sorted(found)


def parse_document(path: str, text: str) -> ParsedDocument:
    """Front matter, title (front matter ``title``, first H1, else the file name), body, relationships."""
    metadata, body, warnings = split_frontmatter(text)
    tokens = parse_tokens(body)
    inline_tokens = _inline_runs(tokens)
    return ParsedDocument(
        title=_title(path, metadata, tokens),
        frontmatter=metadata,
        body=body,
        relationships={"links": _links(path, inline_tokens), "issues": _issues(inline_tokens)},
        warnings=warnings,
    )

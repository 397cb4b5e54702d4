"""parse_document: front matter, titles, links and issue references (synthetic and the real corpus)."""

from __future__ import annotations

import json

import pytest

from lightfast_pipeline.index.parse import parse_document
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "corpus-small"


def test_frontmatter_title_wins_and_is_json_safe() -> None:
    doc = parse_document(
        "docs/a.md",
        "---\ntitle: Guide  to\n  things\ndate: 2024-05-01\ntags: [x, 1]\n---\n\n# Heading\n\nBody.\n",
    )
    assert doc.title == "Guide to things"
    assert doc.frontmatter == {"title": "Guide  to things", "date": "2024-05-01", "tags": ["x", 1]}
    json.dumps(doc.frontmatter)  # storable in a JSON column
    assert doc.body == "# Heading\n\nBody.\n"
    assert doc.warnings == []


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("intro\n\n# First *H1*\n\n# Second\n", "First *H1*"),
        ("Setext Title\n============\n\ntext\n", "Setext Title"),
        ("## Only h2\n\ntext\n", "install-guide"),
        ("```\n# not a heading\n```\n", "install-guide"),
        ("---\ntitle: ''\n---\n# From H1\n", "From H1"),
        ("", "install-guide"),
    ],
)
def test_title_fallbacks(text: str, title: str) -> None:
    assert parse_document("docs/install-guide.md", text).title == title


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("---\ntitle: [unclosed\n---\n# Real\n", "front matter: invalid YAML"),
        ("---\n- a\n- b\n---\n# Real\n", "not a mapping"),
        ("---\ntitle: x\n\n# Real\n", "no closing '---'"),
    ],
)
def test_invalid_frontmatter_keeps_the_whole_file_as_body(text: str, warning: str) -> None:
    doc = parse_document("a.md", text)
    assert doc.body == text
    assert doc.frontmatter == {}
    assert doc.title == "Real"
    assert len(doc.warnings) == 1 and warning in doc.warnings[0]


def test_relative_links_resolve_against_the_document_folder() -> None:
    text = """
See [app](../api/app.md#section), [same](./window.md?plain=1), [self](guide.md#x), [anchor](#local),
[root](/README.md), [spaced](my%20file.md), [ext](https://example.com/a.md), [mail](mailto:a@b.c),
[outside](../../../etc/passwd), ![img](../images/x.png), [ref][r], [folder](../api/).

[r]: ./nested/deep.md

`[code](not-a-link.md)`
"""
    doc = parse_document("docs/tutorial/guide.md", text)
    assert doc.relationships["links"] == [
        "README.md",
        "docs/api",
        "docs/api/app.md",
        "docs/tutorial/my file.md",
        "docs/tutorial/nested/deep.md",
        "docs/tutorial/window.md",
    ]


def test_issue_references() -> None:
    text = """
Fixes #12 and electron/electron#345, see (#7) and #12 again; also my-org/repo.js#9.

Not: page#123, owner.name/repo#22, https://github.com/o/r/issues/5#13, a/b/c#14, `#15`, #16abc,
[link](x.md#17).

```
#18 in a fence
```

    #19 in an indented block

## Heading about #20

<span>#21</span> is rendered text.

<div>
#23 inside an HTML block is not parsed as Markdown
</div>
"""
    doc = parse_document("a.md", text)
    assert doc.relationships["issues"] == [
        "#12",
        "#20",
        "#21",
        "#7",
        "electron/electron#345",
        "my-org/repo.js#9",
    ]


@pytest.mark.shared_fixtures
def test_real_corpus_document() -> None:
    path = "docs/api/browser-window.md"
    doc = parse_document(path, (CORPUS / path).read_text())
    assert doc.title == "BrowserWindow"
    links = doc.relationships["links"]
    assert "docs/api/web-contents.md" in links
    assert "docs/api/structures/rectangle.md" in links
    assert all(not link.startswith(("http", "/", "..")) and "#" not in link for link in links)
    assert path not in links


@pytest.mark.shared_fixtures
def test_real_corpus_frontmatter_files() -> None:
    with_frontmatter = [
        path for path in sorted((CORPUS / "docs").rglob("*.md")) if path.read_text().startswith("---\n")
    ]
    assert len(with_frontmatter) >= 30
    for path in with_frontmatter:
        doc = parse_document(str(path.relative_to(CORPUS)), path.read_text())
        assert doc.warnings == []
        assert doc.frontmatter, path
        assert not doc.body.startswith("---")
        if "title" in doc.frontmatter:
            assert doc.title == " ".join(str(doc.frontmatter["title"]).split())

"""lightfast.yml: schema, error messages, glob semantics, detection order, fingerprint."""

from __future__ import annotations

import pytest

from lightfast_pipeline.config.detect import (
    CONFIG_FILENAMES,
    MAX_CONFIG_BYTES,
    ConfigError,
    config_fingerprint,
    detect_config,
    parse_config,
)
from lightfast_pipeline.config.schema import DEFAULT_MAX_FILE_BYTES, STORE_SLUG_MESSAGE

STORE_ERROR = "store: " + STORE_SLUG_MESSAGE
VALID = b"version: 1\nstore: docs\ninclude:\n  - 'docs/**/*.md'\n  - '*.md'\nexclude: ['docs/internal/']\n"


def test_valid_config_parses_with_defaults() -> None:
    config = parse_config(VALID)
    assert config.version == 1
    assert config.store == "docs"
    assert config.include == ["docs/**/*.md", "*.md"]
    assert config.exclude == ["docs/internal/"]
    assert config.max_file_bytes == DEFAULT_MAX_FILE_BYTES == 1024 * 1024


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("README.md", True),  # "*.md" is anchored: root only
        ("src/README.md", False),
        ("docs/a.md", True),  # "**" matches zero folders
        ("docs/api/deep/b.md", True),
        ("docs/a.txt", False),
        ("docs/internal/secret.md", False),  # excluded folder
        ("docs/internal.md", True),
        ("other/docs/a.md", False),
    ],
)
def test_glob_semantics(path: str, expected: bool) -> None:
    assert parse_config(VALID).matches(path) is expected


def test_double_star_matches_anywhere_and_folder_globs() -> None:
    config = parse_config(b"version: 1\nstore: s\ninclude: ['**/*.md', 'guides/']\nexclude: ['**/CHANGELOG.md']\n")
    assert config.matches("README.md")
    assert config.matches("a/b/c.md")
    assert config.matches("guides/x/y.txt")
    assert not config.matches("a/CHANGELOG.md")
    assert not config.matches("a/b/c.rst")


def test_leading_dot_slash_is_normalised() -> None:
    assert parse_config(b"version: 1\nstore: s\ninclude: ['./docs/*.md']\n").include == ["docs/*.md"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"version: 1\nstore: Docs\ninclude: [a]", "store: " + STORE_SLUG_MESSAGE),
        (b"version: 1\nstore: a--b\ninclude: [a]", STORE_ERROR),
        (b"version: 1\nstore: -ab\ninclude: [a]", STORE_ERROR),
        (b"version: 1\nstore: ab-\ninclude: [a]", STORE_ERROR),
        (b"version: 1\nstore: abcdefghijklmnopqrstu\ninclude: [a]", STORE_ERROR),
        (b"version: 1\nstore: ''\ninclude: [a]", STORE_ERROR),
        (b"version: 1\nstore: 12\ninclude: [a]", STORE_ERROR),
        (b"version: 1\nstore: s\ninclude: []", "include: at least one glob is required"),
        (b"version: 1\nstore: s\ninclude: docs/**", "include: must be a list of globs"),
        (b"version: 1\nstore: s\ninclude: [a]\nincludes: [b]", "unknown key 'includes'"),
        (b"version: 2\nstore: s\ninclude: [a]", "version: must be 1"),
        (b"store: s\ninclude: [a]", "version: is required"),
        (b"version: 1\ninclude: [a]", "store: is required"),
        (b"version: 1\nstore: s\ninclude: ['/etc/*.md']", "include[0]: '/etc/*.md' is an absolute path"),
        (b"version: 1\nstore: s\ninclude: [a, '../x/*.md']", "include[1]: '../x/*.md' contains '..'"),
        (
            b"version: 1\nstore: s\ninclude: [a]\nexclude: ['docs/../..']",
            "exclude[0]: 'docs/../..' contains '..'",
        ),
        (b"version: 1\nstore: s\ninclude: ['!a']", "include[0]: '!a' is a negation"),
        (b"version: 1\nstore: s\ninclude: ['a\\']", "include: invalid glob"),
        (
            b"version: 1\nstore: s\ninclude: [a]\nmax_file_bytes: 0",
            "max_file_bytes: must be a positive whole",
        ),
        (
            b"version: 1\nstore: s\ninclude: [a]\nmax_file_bytes: '10'",
            "max_file_bytes: must be a positive whole",
        ),
        (
            b"version: 1\nstore: s\ninclude: [a]\nmax_file_bytes: true",
            "max_file_bytes: must be a positive whole",
        ),
        (b"version: 1\nstore: s\ninclude: [a]\nstore: t", "store: duplicate key at line 4, column 1"),
        (b"- version: 1\n", "must be a mapping of keys to values, not a list"),
        (b"", "file is empty"),
        (b"# only a comment\n", "file is empty"),
        (b"\xff\xfe not utf-8", "not UTF-8 text"),
    ],
)
def test_errors_name_the_key_and_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    assert message in str(raised.value)


def test_invalid_yaml_reports_line_and_column() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(b"version: 1\nstore: s\ninclude: [a, b\nexclude: [c]\n")
    message = str(raised.value)
    assert message.startswith("invalid YAML at line 4, column ")


def test_unsafe_yaml_tags_are_refused() -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_config(b"version: !!python/object/apply:os.system ['true']\nstore: s\ninclude: [a]\n")


def test_files_over_64_kib_are_refused_before_parsing() -> None:
    data = VALID + b"#" * MAX_CONFIG_BYTES
    with pytest.raises(ConfigError, match="the limit is 64 KiB"):
        parse_config(data)


def test_utf8_bom_is_accepted() -> None:
    assert parse_config(b"\xef\xbb\xbf" + VALID).store == "docs"


def test_detection_first_found_wins() -> None:
    files = {".lightfast.yml": VALID, "lightfast.yaml": b"version: 1\nstore: other\ninclude: [a]\n"}
    asked: list[str] = []

    def read(path: str) -> bytes | None:
        asked.append(path)
        return files.get(path)

    detection = detect_config(read)
    assert detection.status == "configured"
    assert detection.path == ".lightfast.yml"
    assert detection.config is not None and detection.config.store == "docs"
    assert detection.error is None
    assert asked == list(CONFIG_FILENAMES[:2])


def test_detection_missing_and_invalid() -> None:
    assert detect_config(lambda path: None).status == "unconfigured"
    detection = detect_config(lambda path: b"version: 1\nstore: s\n" if path == "lightfast.yml" else None)
    assert (detection.status, detection.path, detection.config) == ("error", "lightfast.yml", None)
    assert detection.error == "include: is required"


def test_fingerprint_ignores_layout_and_follows_content() -> None:
    compact = parse_config(b"{version: 1, store: docs, include: ['docs/**/*.md', '*.md'], exclude: [docs/internal/]}")
    assert config_fingerprint(compact) == config_fingerprint(parse_config(VALID))
    changed = parse_config(VALID + b"max_file_bytes: 2048\n")
    assert config_fingerprint(changed) != config_fingerprint(parse_config(VALID))
    assert len(config_fingerprint(changed)) == 64

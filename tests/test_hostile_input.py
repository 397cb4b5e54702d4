"""Issue 14's hostile inputs: each one handled with a clear outcome, nothing lost, the next run unaffected."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from lightfast_pipeline.activity.export import write_export
from lightfast_pipeline.activity.timeline import Entry
from lightfast_pipeline.catalog.db import is_migrated
from lightfast_pipeline.catalog.models import (
    Chunk,
    Document,
    Repository,
    SkippedEntry,
    WebhookDelivery,
)
from lightfast_pipeline.config.detect import ConfigError, detect_config, parse_config
from lightfast_pipeline.index.parse import parse_document, split_frontmatter
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from lightfast_pipeline.sources.base import SymlinkError
from lightfast_pipeline.sources.local_git import LocalGitSource
from lightfast_pipeline.webhooks import create_app
from lightfast_pipeline.workspaces.workspace import WorkspaceError, get_or_create_organization
from tests.support.github_fixtures import GitHubApp, delivery_headers
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, connect_local, document_paths, ingest

SELF_ALIAS = "---\na: &a [*a]\n---\n# Loop\n\nThe body is still indexed.\n"
NINE = ",".join(["*{}"] * 9)
ALIAS_BOMB = (
    "---\na: &a [x,x,x,x,x,x,x,x,x]\n"
    + "".join(f"{b}: &{b} [{NINE.format(*[a] * 9)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True))
    + "---\n# Bomb\n\nSeven levels of aliases.\n"
)


# --- front matter --------------------------------------------------------------------------------------------


def test_self_referencing_front_matter_is_ignored_with_a_warning() -> None:
    metadata, body, warnings = split_frontmatter(SELF_ALIAS)
    assert metadata == {}
    assert body.startswith("# Loop")
    assert warnings and "aliases" in warnings[0]


def test_front_matter_alias_bomb_is_not_expanded() -> None:
    assert len(ALIAS_BOMB) < 400
    started = time.perf_counter()
    parsed = parse_document("bomb.md", ALIAS_BOMB)
    assert time.perf_counter() - started < 2  # expanded, it is 4.8 million values (28 MB of JSON)
    assert parsed.frontmatter == {}
    assert parsed.title == "Bomb"
    assert any("expands beyond" in warning for warning in parsed.warnings)


def test_ordinary_front_matter_is_kept() -> None:
    metadata, _, warnings = split_frontmatter("---\ntitle: Hi\ntags: [a, b]\nwhen: 2024-01-02\n---\nbody\n")
    assert metadata == {"title": "Hi", "tags": ["a", "b"], "when": "2024-01-02"}
    assert warnings == []


def test_a_repository_with_hostile_front_matter_indexes_every_file(lightfast_env: Settings, tmp_path: Path) -> None:
    runtime = Runtime(lightfast_env)
    repo = GitRepo(tmp_path / "hostile")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("loop.md", SELF_ALIAS)
    repo.write("bomb.md", ALIAS_BOMB)
    repo.write("plain.md", "# Plain\n\nNothing odd here.\n")
    repo.commit("hostile front matter")
    repository_id = _connected(runtime, repo)

    first = ingest(runtime, repository_id)
    second = ingest(runtime, repository_id)

    assert first.status == "completed", first.error
    assert set(document_paths(runtime, repository_id)) == {"loop.md", "bomb.md", "plain.md"}
    with runtime.session() as session:
        stored = session.scalars(select(Document.frontmatter)).all()
    assert all(len(json.dumps(value)) < 1000 for value in stored)
    assert second.status == "completed" and second.documents["unchanged"] == 3
    assert_store_equals_ledger(runtime, repository_id)


# --- lightfast.yml -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a, b]\n: 1\n", "keys must be plain names"),
        ("version: 1\nstore: docs\ninclude: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
        ("version: 1\nstore: docs\nexclude: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", "nested too deeply"),
        ("version: 1\nstore: &s docs\ninclude: [*s]\n", "aliases (*name) are not allowed"),
    ],
)
def test_hostile_config_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_config(text.encode())
    detection = detect_config(lambda name: text.encode() if name == "lightfast.yml" else None)
    assert detection.status == "error" and message in (detection.error or "")


# --- CSV export ----------------------------------------------------------------------------------------------


def test_csv_export_neutralises_formulas() -> None:
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "plain"]
    entries = [
        Entry(
            kind="activity",
            id=n,
            at=datetime(2026, 1, 1, tzinfo=UTC),
            actor=value,
            action="repository.connected",
            entity_type="repository",
            entity_id=None,
            workspace=None,
            source=None,
            repository=value,
            status="success",
            reason=None,
            message=value,
        )
        for n, value in enumerate(hostile)
    ]
    out = io.StringIO()
    write_export(entries, out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    expected = ['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", "plain"]
    assert [row["reason"] for row in rows] == expected
    assert [row["repository"] for row in rows] == expected
    assert [row["actor"] for row in rows] == expected


# --- workspaces ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_organisation_name_is_refused(lightfast_env: Settings, name: str) -> None:
    runtime = Runtime(lightfast_env)
    with runtime.session() as session, pytest.raises(WorkspaceError, match="organisation name must not be empty"):
        get_or_create_organization(session, name)


# --- catalog migrations --------------------------------------------------------------------------------------

RACE = """
import sys, time
from lightfast_pipeline.catalog.db import migrate
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
migrate(sys.argv[1])
print("migrated")
"""


def _migrate_together(url: str, processes: int = 4) -> list[subprocess.CompletedProcess[str]]:
    start = time.time() + 3.0  # every interpreter is up and waiting before the first one migrates
    running = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, url, str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(120), *p.communicate()) for p in running]


def test_processes_started_together_migrate_a_fresh_sqlite_catalog_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    results = _migrate_together(url)
    assert [result.returncode for result in results] == [0] * len(results), [r.stderr[-400:] for r in results]
    assert is_migrated(url)


@pytest.mark.postgres
def test_processes_started_together_migrate_a_fresh_postgres_catalog_once(postgres_url: str) -> None:
    results = _migrate_together(postgres_url)
    assert [result.returncode for result in results] == [0] * len(results), [r.stderr[-400:] for r in results]
    assert is_migrated(postgres_url)


# --- webhook receiver ----------------------------------------------------------------------------------------

MALFORMED = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "deep_object": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "nan": '{"action": "created", "n": NaN}',
    "infinity": '{"n": -Infinity}',
    "not_an_object": "[1, 2, 3]",
}
ODD_FIELDS = {
    "full_name_object": {"repository": {"id": 1, "full_name": {"x": 1}}},
    "login_list": {"sender": {"login": ["a", "b"]}},
    "long_action": {"action": "a" * 500},
    "long_names": {"repository": {"id": "9" * 500, "full_name": "o/" + "n" * 1000}, "sender": {"login": "s" * 900}},
    "bool_id": {"repository": {"id": True}, "installation": {"id": {"nested": 1}}},
}


def _receiver_checks(runtime: Runtime) -> None:
    with TestClient(create_app(runtime)) as client:
        for name, body in MALFORMED.items():
            raw = body.encode()
            response = client.post("/webhooks/github", content=raw, headers=delivery_headers("push", raw))
            assert response.status_code == 400, (name, response.status_code, response.text[:200])
            assert "error" in response.json()
        for name, payload in ODD_FIELDS.items():
            raw = json.dumps(payload).encode()
            response = client.post("/webhooks/github", content=raw, headers=delivery_headers("push", raw))
            assert response.status_code == 202, (name, response.status_code, response.text[:200])
        raw = b"{}"
        for headers in (
            delivery_headers("push", raw, delivery_id="d" * 101),
            delivery_headers("e" * 61, raw),
        ):
            assert client.post("/webhooks/github", content=raw, headers=headers).status_code == 400
    with runtime.session() as session:
        rows = session.scalars(select(WebhookDelivery)).all()
        assert len(rows) == len(ODD_FIELDS)
        assert all(row.repository_full_name is None or len(row.repository_full_name) <= 300 for row in rows)
        assert {row.sender for row in rows} == {None}
        assert (
            session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.action.is_not(None)))
            == 0
        )


def test_signed_but_malformed_payloads_are_refused_or_stored_never_500(
    lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.github_fixtures import WEBHOOK_SECRET

    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
    _receiver_checks(Runtime(lightfast_env))


@pytest.mark.postgres
def test_signed_but_malformed_payloads_on_postgres(
    lightfast_env: Settings, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.github_fixtures import WEBHOOK_SECRET

    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("LIGHTFAST_DATABASE_URL", postgres_url)
    from lightfast_pipeline.settings import load_settings

    _receiver_checks(Runtime(load_settings()))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_served_receiver_times_out_incomplete_requests(lightfast_env: Settings) -> None:
    from tests.support.github_fixtures import WEBHOOK_SECRET

    port = _free_port()
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET}
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "webhooks", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--request-timeout", "1"], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "receiver did not start"
                time.sleep(0.2)
        head_only = socket.create_connection(("127.0.0.1", port), timeout=10)
        head_only.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        slow_body = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow_body.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.time()
        assert head_only.recv(1024) == b""  # closed by the server
        answer = slow_body.recv(4096)
        assert b" 408 " in answer.split(b"\r\n", 1)[0]
        assert time.time() - started < 8
        assert server.poll() is None  # still serving
        healthy = socket.create_connection(("127.0.0.1", port), timeout=5)
        healthy.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"200 OK" in healthy.recv(1024)
    finally:
        server.terminate()
        server.wait(10)


# --- names and config shapes in the tree ---------------------------------------------------------------------


def _connected(runtime: Runtime, repo: GitRepo) -> int:
    return connect_local(runtime, repo.path).id


def test_a_file_name_with_a_newline_is_skipped_with_a_reason(lightfast_env: Settings, tmp_path: Path) -> None:
    runtime = Runtime(lightfast_env)
    repo = GitRepo(tmp_path / "names")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("good.md", "# Good\n\nIndexed.\n")
    repo.write("bad\nname.md", "# Bad\n\nA newline in the name.\n")
    repo.commit("names")
    repository_id = _connected(runtime, repo)

    outcome = ingest(runtime, repository_id)

    assert outcome.status == "completed", outcome.error
    assert set(document_paths(runtime, repository_id)) == {"good.md"}
    with runtime.session() as session:
        skipped = dict(session.execute(select(SkippedEntry.path, SkippedEntry.reason)).all())
    assert skipped == {"bad\nname.md": "control_characters_in_name"}


def test_a_config_that_is_a_folder_is_an_error_and_keeps_the_index(lightfast_env: Settings, tmp_path: Path) -> None:
    runtime = Runtime(lightfast_env)
    repo = GitRepo(tmp_path / "folder-config")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("guide.md", "# Guide\n\nKeep me searchable.\n")
    repo.commit("indexed")
    repository_id = _connected(runtime, repo)
    assert ingest(runtime, repository_id).status == "completed"

    repo.remove("lightfast.yml")
    repo.write("lightfast.yml/README", "not a config\n")
    repo.commit("config became a folder")
    outcome = ingest(runtime, repository_id)

    assert outcome.status == "failed"
    assert "lightfast.yml is a folder" in (outcome.error or "")
    assert set(document_paths(runtime, repository_id)) == {"guide.md"}
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert repository.config_status == "error"
        assert "folder" in (repository.config_error or "")
    assert_store_equals_ledger(runtime, repository_id)


# --- bounds on what users type ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("100000000d", "longer than 36600 days"),
        ("99999999999999999999h", "longer than 36600 days"),
        ("2026-01-01..9999-12-31", "out of range"),
    ],
)
def test_absurd_stats_ranges_are_range_errors(text: str, message: str) -> None:
    from lightfast_pipeline.metrics.ranges import RangeError, parse_range

    with pytest.raises(RangeError, match=message):
        parse_range(text)


def test_a_huge_timeline_search_is_a_timeline_error() -> None:
    from lightfast_pipeline.activity.timeline import TimelineError, TimelineFilter

    with pytest.raises(TimelineError, match="longer than 200 characters"):
        TimelineFilter(search="x" * 100_000)


def test_an_unparsable_app_key_is_an_auth_error() -> None:
    from lightfast_pipeline.sources.github.auth import AppCredentials, GitHubAuthError, app_jwt

    with pytest.raises(GitHubAuthError, match="not a valid RSA PEM key"):
        app_jwt(AppCredentials(app_id="1", private_key="this is not a key\n"))


@pytest.mark.parametrize(
    "args",
    [
        ("jobs", "stats", "--hours", "1e308"),
        ("webhooks", "deliveries", "--limit", "99999999999999999999"),
        ("activity", "--since", "99999999d"),
        ("activity", "--search", "x" * 100_000),
        ("stats", "--range", "100000000d", "--no-refresh"),
    ],
    ids=["hours", "limit", "since", "search", "range"],
)
def test_absurd_cli_values_end_in_one_line_not_a_traceback(run, args: tuple[str, ...]) -> None:
    result = run(*args)  # the fixture re-raises anything the command did not handle
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output


# --- the tree: links out of the repository, long names, huge files, hostile configs through a real run ------

OUTSIDE_WORD = "exfiltrated"  # only in files outside the repository


def _outside(tmp_path: Path) -> Path:
    """A folder beside the repository holding a secret document and a config that would select everything."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(f"# Secret\n\nThe {OUTSIDE_WORD} password is hunter2.\n")
    (outside / "lightfast.yml").write_text('version: 1\nstore: docs\ninclude: ["**/*"]\n')
    return outside


def _nothing_from_outside(runtime: Runtime) -> None:
    with runtime.session() as session:
        texts = session.scalars(select(Chunk.text)).all()
        paths = session.scalars(select(Document.path)).all()
    assert texts and not any(OUTSIDE_WORD in text or "hunter2" in text for text in texts)
    assert not any("outside" in path or "secret" in path for path in paths)


def test_links_out_of_the_repository_long_names_and_a_50_mb_file(lightfast_env: Settings, tmp_path: Path) -> None:
    runtime = Runtime(lightfast_env)
    outside = _outside(tmp_path)
    repo = GitRepo(tmp_path / "tree")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("guide.md", "# Guide\n\nIndexed before anything hostile arrived.\n")
    repo.commit("indexed")
    repository_id = _connected(runtime, repo)
    assert ingest(runtime, repository_id).status == "completed"

    long_name = "é" * 125 + "ab.md"  # 255 bytes of UTF-8: the longest name most file systems allow
    assert len(long_name.encode()) == 255
    deep = "/".join(["d" * 200] * 8) + "/deep.md"  # a 1,600-byte path of long folder names
    os.symlink(outside / "secret.md", repo.path / "absolute.md")
    os.symlink("../outside/secret.md", repo.path / "relative.md")
    os.symlink(outside, repo.path / "linked-folder")
    repo.write(long_name, "# Long name\n\nA name of 255 bytes.\n")
    repo.write(deep, "# Deep\n\nEight folders of 200 characters.\n")
    with (repo.path / "huge.md").open("wb") as huge:
        for _ in range(50):
            huge.write(b"# Huge\n\n" + b"word " * 209_714 + b"\n")  # 50 MB in all
    repo.commit("hostile tree")
    outcome = ingest(runtime, repository_id)

    assert outcome.status == "completed", outcome.error
    assert set(document_paths(runtime, repository_id)) == {"guide.md", long_name, deep}
    with runtime.session() as session:
        skipped = dict(session.execute(select(SkippedEntry.path, SkippedEntry.reason)).all())
    assert skipped == {
        "absolute.md": "symlink",
        "relative.md": "symlink",
        "huge.md": "too_large",
    }  # linked-folder is a link to a folder: not a *.md path, so not selected at all
    assert outcome.blobs_read <= 3  # the 50 MB blob is never read (its size in the tree decides)
    _nothing_from_outside(runtime)
    again = ingest(runtime, repository_id)
    assert again.status == "completed" and again.blobs_read == 0
    assert_store_equals_ledger(runtime, repository_id)


HOSTILE_CONFIGS = {
    "alias_bomb": (
        "version: 1\nstore: docs\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\ninclude: [*b]\n",
        "aliases (*name) are not allowed",
    ),
    "deep": ("version: 1\nstore: docs\ninclude: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
    "over_64_kib": (
        'version: 1\nstore: docs\ninclude: ["**/*.md"]\n' + "# padding\n" * 7_000,
        "the limit is 64 KiB",
    ),
    "dotdot_glob": ('version: 1\nstore: docs\ninclude: ["../outside/*.md"]\n', "contains '..'"),
    "absolute_glob": ('version: 1\nstore: docs\ninclude: ["/tmp/*.md"]\n', "is an absolute path"),
}


def test_hostile_configs_in_a_run_are_config_errors_that_keep_the_index(
    lightfast_env: Settings, tmp_path: Path
) -> None:
    runtime = Runtime(lightfast_env)
    _outside(tmp_path)
    repo = GitRepo(tmp_path / "configs")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("guide.md", "# Guide\n\nKeep me searchable.\n")
    good = repo.commit("indexed")
    repository_id = _connected(runtime, repo)
    assert ingest(runtime, repository_id).status == "completed"

    for name, (text, message) in HOSTILE_CONFIGS.items():
        repo.write("lightfast.yml", text)
        repo.commit(name)
        outcome = ingest(runtime, repository_id)
        assert outcome.status == "failed", name
        assert message in (outcome.error or ""), (name, outcome.error)
        with runtime.session() as session:
            repository = session.get(Repository, repository_id)
            assert (repository.config_status, message in (repository.config_error or "")) == ("error", True), name
        assert set(document_paths(runtime, repository_id)) == {"guide.md"}, name

    repo.reset_hard(good)
    os.remove(repo.path / "lightfast.yml")
    os.symlink(tmp_path / "outside" / "lightfast.yml", repo.path / "lightfast.yml")  # a config that links out
    repo.commit("config is a link out of the repository")
    outcome = ingest(runtime, repository_id)
    assert outcome.status == "failed", outcome.error
    assert "lightfast.yml is a symbolic link; the config must be a regular file" in (outcome.error or "")
    assert set(document_paths(runtime, repository_id)) == {"guide.md"}
    _nothing_from_outside(runtime)
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        assert (repository.config_status, repository.config_path) == ("error", "lightfast.yml")
        assert "symbolic link" in (repository.config_error or "")

    repo.reset_hard(good)
    repo.commit("fixed")
    assert ingest(runtime, repository_id).status == "completed"
    assert_store_equals_ledger(runtime, repository_id)


def test_both_sources_read_links_like_github_and_never_out_of_the_repository(
    tmp_path: Path, github_app: GitHubApp
) -> None:
    """A link to a file of the repository is followed once (GitHub's contents API does so); a link out of it, to
    a folder, to another link or to nothing is a SymlinkError — never the outside file, never "no file"."""
    from lightfast_pipeline.settings import load_github_settings
    from lightfast_pipeline.sources.github import github_source

    outside = _outside(tmp_path)
    repo = GitRepo(tmp_path / "links")
    repo.write("docs/guide.md", "# Guide\n")
    links = {
        "inside.md": "docs/guide.md",
        "docs/up.md": "../docs/guide.md",
        "relative-out.md": "../outside/secret.md",
        "absolute-out.md": str(outside / "secret.md"),
        "folder.md": "docs",
        "loop-a.md": "loop-b.md",
        "loop-b.md": "loop-a.md",
        "dangling.md": "missing.md",
    }
    for name, target in links.items():
        os.symlink(target, repo.path / name)
    head = repo.commit("links")
    github_app.server.add_repository("acme/links", repo.path, repo_id=4242, installation_id=7)
    sources = {
        "local": LocalGitSource(repo.path),
        "github": github_source(load_github_settings(), "acme/links", installation_id="7"),
    }
    for kind, source in sources.items():
        assert source.read_file(head, "inside.md") == b"# Guide\n", kind
        assert source.read_file(head, "docs/up.md") == b"# Guide\n", kind
        for name in ("relative-out.md", "absolute-out.md", "folder.md", "loop-a.md", "dangling.md"):
            with pytest.raises(SymlinkError):
                source.read_file(head, name)
        assert source.read_file(head, "absent.md") is None, kind

"""`lightfast activity` through the real CLI: JSON pages, export files, errors and the live tail."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance
from typer.testing import CliRunner

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.activity.timeline import COLUMNS
from lightfast_pipeline.cli.activity import parse_time
from lightfast_pipeline.cli.app import app
from lightfast_pipeline.cli.common import get_runtime
from lightfast_pipeline.runtime import Runtime
from tests.conftest import PROJECT_ROOT
from tests.support.activity_data import create_runs, generate_activity, seed_catalog

runner = CliRunner()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """2,000 activity rows in the last two hours and 6 runs; built once, tests only add newer rows."""
    home = tmp_path_factory.mktemp("activity-cli") / "lightfast"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIGHTFAST_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        patch.delenv("LIGHTFAST_DATABASE_URL", raising=False)
        (home / "dagster").mkdir(parents=True)
        get_runtime.cache_clear()
        runtime = get_runtime()
        with runtime.session() as session:
            catalog = seed_catalog(session)
            now = datetime.now(UTC)
            generate_activity(session, catalog, 2000, now - timedelta(hours=2), now - timedelta(minutes=1))
        with DagsterInstance.get() as instance:
            create_runs(instance, catalog, 6)
        yield runtime
        get_runtime.cache_clear()


def _invoke(*args: str):
    result = runner.invoke(app, ["activity", *args])
    return result


def _json_pages(*args: str) -> list[dict]:
    rows: list[dict] = []
    cursor: list[str] = []
    while True:
        result = _invoke(*args, "--json", "--limit", "150", *cursor)
        assert result.exit_code == 0, result.output
        payload = json.loads(result.stdout)
        assert set(payload) == {"activity", "next_cursor", "has_more"}
        rows.extend(payload["activity"])
        if not payload["has_more"]:
            return rows
        cursor = ["--cursor", payload["next_cursor"]]


@pytest.mark.parametrize(
    "filters",
    [
        (),
        ("--type", "repository", "--type", "job"),
        ("--status", "failure", "--workspace", "beta"),
        ("--search", "old-api"),
        ("--actor", "system", "--since", "90m"),
        ("--source", "local", "--repository", "acme/handbook"),
    ],
)
def test_json_pages_and_both_exports_list_the_same_rows(seeded: Runtime, tmp_path: Path, filters) -> None:
    paged = _json_pages(*filters)
    assert paged, filters
    csv_file, json_file = tmp_path / "out.csv", tmp_path / "out.json"
    for fmt, path in (("csv", csv_file), ("json", json_file)):
        result = _invoke(*filters, "--export", fmt, "--output", str(path))
        assert result.exit_code == 0, result.output
        assert f"exported {len(paged)} entries" in result.stderr
    exported = json.loads(json_file.read_text())
    assert exported == {"activity": paged, "next_cursor": None, "has_more": False}
    with csv_file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    assert [row["id"] for row in rows] == [str(row["id"]) for row in paged]
    assert [json.loads(row["impact"]) for row in rows] == [row["impact"] for row in paged]
    assert [row["reason"] for row in rows] == [row["reason"] or "" for row in paged]


def test_text_output_lists_newest_first(seeded: Runtime) -> None:
    with seeded.session() as session:
        record_activity(session, action=actions.WORKSPACE_CREATED, entity_type="workspace", actor="zoe")
    result = _invoke("--limit", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "workspace.created" in lines[0] and "zoe" in lines[0]
    assert "--cursor" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--status", "done"), "unknown status 'done'"),
        (("--since", "yesterday"), "invalid time 'yesterday'"),
        (("--cursor", "garbage"), "invalid cursor"),
        (("--limit", "0"), "limit must be between 1 and 1000"),
        (("--export", "xml", "--output", "x.xml"), "unknown export format 'xml'"),
        (("--export", "csv"), "--export needs --output"),
        (("--follow", "--export", "csv", "--output", "x.csv"), "--follow cannot be combined"),
    ],
)
def test_bad_input_is_one_clear_error(seeded: Runtime, args: tuple[str, ...], message: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_failed_export_leaves_no_file(seeded: Runtime, tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "out.csv"
    result = _invoke("--export", "csv", "--output", str(target))
    assert result.exit_code == 1 and "cannot write" in result.stderr
    assert not target.parent.exists()
    existing = tmp_path / "keep.json"
    existing.write_text("previous export")
    result = _invoke("--export", "json", "--output", str(existing), "--since", "not-a-time")
    assert result.exit_code == 1
    assert existing.read_text() == "previous export"


def test_parse_time_accepts_iso_and_ages() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_time("2h", now=now) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("7d", now=now) == datetime(2024, 4, 24, 12, tzinfo=UTC)
    assert parse_time("2024-05-01T14:00+02:00") == now
    assert parse_time("2024-05-01 12:00") == now


def test_follow_prints_new_rows_and_stops_cleanly_on_ctrl_c(seeded: Runtime) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-c", "from lightfast_pipeline.cli.app import main; main()"]
    process = subprocess.Popen(
        [
            *command,
            "activity",
            "--follow",
            "--json",
            "--limit",
            "2",
            "--interval",
            "0.2",
            "--type",
            "reindex",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A script's background job starts with SIGINT ignored: Ctrl-C (SIGINT) must still end --follow.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        backlog = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert [row["action"] for row in backlog] == [actions.REINDEX_REQUESTED] * 2
        assert backlog[0]["at"] <= backlog[1]["at"]  # oldest first, like tail
        with seeded.session() as session:
            record_activity(session, action=actions.REINDEX_REQUESTED, entity_type="repository", actor="live-user")
            record_activity(session, action=actions.STORE_CREATED, entity_type="store", actor="filtered-out")
        started = time.monotonic()
        new = json.loads(process.stdout.readline())
        assert new["actor"] == "live-user" and time.monotonic() - started < 10
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and stdout == ""

"""Reindex on request without waiting: `lightfast ingest` started in the background, its run id returned.

The API starts the same command a person runs (`python -m lightfast_pipeline.cli ingest ID --json`, actor
from ``LIGHTFAST_USER``): it records the `reindex.requested` activity, queues the run when a daemon serves
the run queue and otherwise executes it in its own process, never in the server's. The request returns as
soon as the run exists in the instance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from dagster import RunsFilter

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.models import Repository
from lightfast_pipeline.config.detect import detect_config
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import load_notify_settings
from lightfast_pipeline.sources.base import Source
from lightfast_pipeline.sources.factory import source_for
from lightfast_pipeline.workspaces.repositories import RepositoryError

RUN_APPEARS_WITHIN = 60.0


@dataclass(frozen=True)
class StartedRun:
    """A reindex that has started: its run, how many files the config selects, where to watch it."""

    run_id: str
    matched_files: int
    run_url: str


def matched_files(source: Source) -> int:
    """Files at the branch head that ``lightfast.yml`` selects (0 without a valid config)."""
    commit = source.head_commit()
    detection = detect_config(lambda path: source.read_file(commit, path))
    if detection.config is None:
        return 0
    return sum(1 for entry in source.tree(commit) if not entry.is_submodule and detection.config.matches(entry.path))


def start_reindex(runtime: Runtime, repository_id: int, *, actor: str, full: bool = False) -> StartedRun:
    """Start `lightfast ingest` for the repository as ``actor`` and return once its run is recorded."""
    with runtime.session() as session:
        repository = session.get(Repository, repository_id)
        if repository is None or not repository.active:
            raise RepositoryError(f"repository {repository_id} is not connected")
        if repository.archived or repository.suspended:
            raise RepositoryError(f"{repository.full_name} is {'archived' if repository.archived else 'suspended'}")
        source = source_for(repository, runtime.settings)
        uid = repository.uid
    matched = matched_files(source)
    since = datetime.now(UTC)
    command = [sys.executable, "-m", "lightfast_pipeline.cli", "ingest", str(repository_id), "--json"]
    if full:
        command.append("--full")
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: nobody reads it once the run exists
        process = subprocess.Popen(  # detached: the run goes on when the request (or the server) ends
            command,
            env={**os.environ, "LIGHTFAST_USER": actor},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        run_id = _wait_for_run(runtime, process, errors, uid, actor, since)
    ui_url = load_notify_settings().dagster_ui_url
    return StartedRun(run_id=run_id, matched_files=matched, run_url=f"{ui_url}/runs/{run_id}")


def _wait_for_run(
    runtime: Runtime, process: subprocess.Popen, errors: IO[bytes], uid: str, actor: str, since: datetime
) -> str:
    filters = RunsFilter(tags={tags.REPOSITORY: uid, tags.USER: actor}, created_after=since)
    deadline = time.monotonic() + RUN_APPEARS_WITHIN
    while time.monotonic() < deadline:
        records = runtime.instance.get_run_records(filters, limit=1, ascending=True)
        if records:
            return records[0].dagster_run.run_id
        if process.poll() is not None and process.returncode != 0:
            errors.seek(0)
            lines = [line for line in errors.read().decode(errors="replace").splitlines() if line.strip()]
            raise RepositoryError(lines[-1].removeprefix("error: ") if lines else "the ingest command failed")
        time.sleep(0.1)
    raise RepositoryError("the run did not start within a minute")

"""Many repositories pushed to at once on the production deployment (issue 15 item 5, issue 14 item 3).

Eight GitHub repositories on the local GitHub server, PostgreSQL, ``dagster-daemon`` with the run queue of
deploy/dagster.yaml and ``lightfast webhooks serve`` (tests/support/fleet.py; the ingestion code location only:
warehouse refreshes would only add load). Runs use the hashing test embedder. Every repository gets a push
at once, three of them a second push straight after, and one repository three more pushes while its run is
running (held open by a slow embedding). Afterwards every repository is indexed at its newest head, no two runs
indexed the same (repository, head), and the pushes made during the run caused exactly one follow-up run.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from lightfast_pipeline.jobs.ingestion import head_read
from lightfast_pipeline.runs.jobs import get_job
from tests.support.embedders import slow_marker
from tests.support.fleet import Fleet, Push, RunRow, fleet
from tests.support.ingest import assert_store_equals_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.shared_fixtures]

SIZE = 8
HELD_SECONDS = 25  # the slow run's embedding: longer than the pushes made while it runs
SENSOR_PERIOD = 5.5  # the daemon evaluates sensors every 5 s at most: one push per tick


def _run_of(f: Fleet, push: Push) -> RunRow | None:
    return next((run for run in f.runs() if run.delivery == push.delivery_id), None)


def _changed(f: Fleet, run_id: str) -> int:
    """Documents a run added, modified or deleted (0: a no-op run)."""
    output = get_job(f.instance, run_id).output
    return sum(int(output.get(f"documents_{kind}", 0) or 0) for kind in ("added", "modified", "deleted"))


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def test_pushes_to_many_repositories_index_each_newest_head_once(postgres_server: URL, tmp_path: Path) -> None:
    with fleet(tmp_path, postgres_server, SIZE, max_concurrent_runs=4, metrics=False) as f:
        held = f.push(0, slow_marker(HELD_SECONDS))
        pushes = [held, *(f.push(index) for index in range(1, SIZE)), *(f.push(index) for index in (1, 2, 3))]

        # Once the held run has read its head, three pushes reach it a sensor tick apart.
        _wait(lambda: _run_of(f, held) is not None, 180, "the held push's run")
        held_run = _run_of(f, held).run_id
        _wait(lambda: head_read(f.instance, held_run) == held.sha, 300, "the held run to read its head")
        during = []
        for _ in range(3):
            during.append(f.push(0))
            time.sleep(SENSOR_PERIOD)
        assert not f.instance.get_run_by_id(held_run).is_finished, "the held run ended before the pushes"
        pushes += during

        _wait(lambda: not f.busy(), 900, "every delivery decided and every run finished")
        runs = f.runs()
        changed = {run.run_id: _changed(f, run.run_id) for run in runs}
        deliveries = f.deliveries([push.delivery_id for push in pushes])
        held_end = f.instance.get_run_record_by_id(held_run).end_time

        # Every repository is indexed at its newest head, searchable, and its index equals its ledger.
        assert f.indexed_heads() == {member.index: member.git.head() for member in f.members}
        newest = {push.member: push for push in pushes}
        assert all(f.finds(push) for push in newest.values())
        for member in f.members:
            assert_store_equals_ledger(f.runtime, member.repository_id)

    assert all(run.status == "SUCCESS" for run in runs), runs
    # No duplicate run: no two runs planned from the same head of one repository, never more runs than pushes.
    # A follow-up run requested in the instant before a running run records the head it planned from can find
    # that head indexed and change nothing (docs/reliability.md, known gaps): such a no-op is the only repeat
    # allowed; no two runs change the index from the same head.
    assert max(Counter((run.repository_uid, run.head) for run in runs if changed[run.run_id]).values()) == 1, runs
    per_member = Counter(run.repository_uid for run in runs)
    for member in f.members:
        assert 1 <= per_member[member.uid] <= member.pushes
    # The three pushes during the held run: exactly one follow-up run, which absorbed all three and indexed
    # the newest head; every delivery was decided (none failed) and names the run that indexed it.
    follow_ups = [run for run in runs if run.repository_uid == f.members[0].uid and run.run_id != held_run]
    assert len(follow_ups) == 1, follow_ups
    for push in during:  # it names the follow-up, or the delivery of its sensor tick that requested it
        _, reason, run_id = deliveries[push.delivery_id]
        requester = reason.rsplit("coalesced into the run requested for delivery ", 1)[-1]
        assert run_id == follow_ups[0].run_id or deliveries[requester][2] == follow_ups[0].run_id, reason
    assert follow_ups[0].head == during[-1].sha and follow_ups[0].started >= held_end
    # Every delivery was decided (none failed): it names its run, was coalesced into the run requested in the
    # same sensor tick, or found its commit already indexed.
    for status, reason, run_id in deliveries.values():
        assert status != "failed", reason
        assert run_id or "coalesced into the run requested" in reason or ("already indexed" in reason), (status, reason)

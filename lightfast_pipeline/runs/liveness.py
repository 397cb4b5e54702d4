"""Runs whose process died: the embedded default has no run monitoring, so a run killed with SIGKILL (or a
machine that lost power) would list as ``running`` forever. Every read of the jobs record first marks such
runs failed — a started run whose worker process, recorded with its ``RUN_START`` event, no longer exists.

Only on instances without Dagster's run monitoring (the production deployment enables it in
``deploy/dagster.yaml``, and its run workers live on other hosts, where a pid means nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from lightfast_pipeline.system.processes import process_exists

DEAD_RUN_MESSAGE = "run process {pid} died without finishing the run"


def _worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def fail_dead_runs(instance: DagsterInstance, run_ids: Sequence[str] | None = None) -> list[str]:
    """Mark failed every started run of this host (or of ``run_ids``) whose process no longer exists; return
    their ids."""
    if instance.run_monitoring_enabled or (run_ids is not None and not run_ids):
        return []
    failed: list[str] = []
    started = RunsFilter(statuses=[DagsterRunStatus.STARTED], run_ids=list(run_ids) if run_ids else None)
    for record in instance.get_run_records(started):
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or process_exists(pid):
            continue
        instance.report_run_failed(run, message=DEAD_RUN_MESSAGE.format(pid=pid))
        failed.append(run.run_id)
    return failed

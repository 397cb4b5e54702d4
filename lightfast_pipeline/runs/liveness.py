"""Runs whose process died: the embedded default has no run monitoring, so a run killed with SIGKILL (or a
machine that lost power) would list as ``running`` forever. Every read of the jobs record first marks such
runs failed — a started run whose worker process, recorded with its ``RUN_START`` event, no longer exists.

Only on instances without Dagster's run monitoring (the production deployment enables it in
``deploy/dagster.yaml``, and its run workers live on other hosts, where a pid means nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from lightfast_pipeline.system.processes import process_exists

DEAD_RUN_MESSAGE = "run process {pid} died without finishing the run"


@lru_cache(maxsize=4096)
def _worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's worker, from its ``RUN_START`` event (written once: cached per run)."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def fail_dead_runs(instance: DagsterInstance, run_ids: Sequence[str] | None = None) -> list[str]:
    """Mark failed every started run of this host (or those of ``run_ids`` that are started) whose process no
    longer exists; return their ids. Callers that list runs pass the ids of the started ones they read: then a
    run's record is read only when its worker is gone."""
    if instance.run_monitoring_enabled or (run_ids is not None and not run_ids):
        return []
    if run_ids is None:
        run_ids = instance.get_run_ids(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    failed: list[str] = []
    for run_id in run_ids:
        pid = _worker_pid(instance, run_id)
        if pid is None or process_exists(pid):
            continue
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != DagsterRunStatus.STARTED:
            continue
        instance.report_run_failed(run, message=DEAD_RUN_MESSAGE.format(pid=pid))
        failed.append(run_id)
    return failed

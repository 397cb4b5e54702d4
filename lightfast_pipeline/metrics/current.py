"""Before ``lightfast stats`` reads: run the metrics job that makes a stale warehouse current.

The same job the sensor and the schedule run (``refresh_warehouse``, or ``rebuild_metrics`` when the models of
this project version are not built), executed in this process and recorded on the instance like any run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from lightfast_pipeline import tags
from lightfast_pipeline.catalog.db import session_scope
from lightfast_pipeline.metrics.freshness import stale_job
from lightfast_pipeline.metrics.writer import writer_busy

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class MetricsJobFailed(Exception):
    """The metrics job ran and failed; the message names the run and the first error."""


@dataclass(frozen=True)
class RefreshOutcome:
    """What ``bring_current`` did: the job it ran (None: nothing was stale), or ``busy`` (another writer)."""

    job: str | None = None
    run_id: str | None = None
    busy: bool = False


def bring_current(warehouse: Path, instance: DagsterInstance, database_url: str, *, user: str) -> RefreshOutcome:
    """Run the stale job, unless another writer holds the warehouse (then the last refresh answers)."""
    if writer_busy(warehouse):
        return RefreshOutcome(busy=True)
    with session_scope(database_url) as session:
        job_name = stale_job(warehouse, instance, session)
    if job_name is None:
        return RefreshOutcome()
    from lightfast_pipeline.metrics_definitions import defs  # dagster-dbt and the models: only when stale

    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        tags={tags.TRIGGER: "manual", tags.USER: user},
        run_config=QUIET_LOGS,
        raise_on_error=False,
    )
    if not result.success:
        failures = result.get_step_failure_events()
        error = failures[0].step_failure_data.error if failures else None
        raise MetricsJobFailed(f"{job_name} run {result.run_id} failed" + (f": {error.message}" if error else ""))
    return RefreshOutcome(job=job_name, run_id=result.run_id)

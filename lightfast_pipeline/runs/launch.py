"""Launching the ingestion job from the CLI: the same job the UI, sensors and schedules run.

Two paths:
- when a Dagster daemon serves the instance's run queue (production, deploy/dagster.yaml, or `lightfast dev`
  running), the run is submitted through the webserver's GraphQL `launchRun` (as the UI does), enters the
  queue with its tags (one run per repository at a time) and is launched by the daemon; the CLI waits for it;
- otherwise (embedded default, nothing else running) the run executes in the CLI process
  (`dagster.execute_job` on the instance, in-process executor): the model is loaded once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import requests
from dagster import (
    ConfigurableResource,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    JobDefinition,
    QueuedRunCoordinator,
    build_reconstructable_job,
    execute_job,
)

from lightfast_pipeline import tags

JOB_NAME = "ingest_repository"
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
DAEMON_FRESH_SECONDS = 60
# The run's events (step failures with their stack traces included) are kept in the instance's event log and
# shown by the Dagster UI; a run executed in the CLI process prints none of them to the terminal, where the
# command prints its own one-line outcome.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
STATUS_NAMES = {"SUCCESS": "completed", "FAILURE": "failed", "CANCELED": "cancelled"}
LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""


class LaunchError(Exception):
    """The run could not be submitted (webserver unreachable, job not found…)."""


@dataclass(frozen=True)
class RunOutcome:
    """What a finished ingestion run reported."""

    run_id: str
    status: str  # completed | failed | cancelled
    report: dict
    error: str | None
    blobs_read: int


def ingest_job_definition(configuration: str) -> JobDefinition:
    """The `ingest_repository` job on resources built from this process's settings (module-level: Dagster
    reconstructs it by name). ``configuration`` is what they were built from (:func:`_configuration`): Dagster
    keeps the last job it reconstructed, and a process whose settings changed must not reuse it."""
    from lightfast_pipeline.definitions import ingestion_definitions
    from lightfast_pipeline.resources import ingestion_resources
    from lightfast_pipeline.settings import load_project_settings

    del configuration  # the cache key; the settings are read again
    return ingestion_definitions(ingestion_resources(load_project_settings())).resolve_job_def(JOB_NAME)


def _configuration() -> str:
    """A digest of the process's settings with each secret reduced to whether it is set (their reprs leave
    secrets out; a bound ``EnvVar`` reads the value itself when the run starts). A digest, because the run
    record keeps it and a database URL may carry a password."""
    import hashlib

    from lightfast_pipeline.settings import load_project_settings

    project = load_project_settings()
    present = {
        "cohere": bool(project.cohere.api_key),
        "pinecone": bool(project.pinecone.api_key),
        "github_key": bool(project.github.private_key),
        "webhook_secrets": len(project.github.webhook_secrets),
    }
    return hashlib.sha256(f"{project!r} {present}".encode()).hexdigest()[:16]


def ingestion_tags(
    *, trigger: str, user: str, workspace_slug: str, repository_uid: str, repository_name: str, full: bool = False
) -> dict[str, str]:
    """The run tags that make a run a job record (see tags.py)."""
    run_tags = {
        "dagster/partition": repository_uid,
        tags.TRIGGER: trigger,
        tags.USER: user,
        tags.WORKSPACE: workspace_slug,
        tags.REPOSITORY: repository_uid,
        tags.REPOSITORY_NAME: repository_name,
    }
    if full:
        run_tags[tags.FULL_REINDEX] = "true"
    return run_tags


def uses_run_queue(instance: DagsterInstance) -> bool:
    """True when runs are queued and a live daemon dequeues them (it launches every run then)."""
    if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
        return False
    heartbeat = instance.get_daemon_heartbeats().get(QUEUE_DAEMON)
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_FRESH_SECONDS


def _outcome(run_id: str, status: DagsterRunStatus, events: Iterable[DagsterEvent]) -> RunOutcome:
    report: dict = {}
    blobs_read = 0
    error = None
    for event in events:
        if event.is_step_materialization and event.asset_key is not None:
            metadata = event.event_specific_data.materialization.metadata
            if event.asset_key.path == ["embeddings"]:
                report = metadata["report"].value
            elif event.asset_key.path == ["documents"]:
                blobs_read = metadata["blobs_read"].value
        elif event.is_step_failure and error is None:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                error = data.user_failure_data.description
            elif data.error is not None:
                cause = data.error
                while cause.cause is not None:
                    cause = cause.cause
                error = cause.message.strip().splitlines()[-1]
        elif event.event_type == DagsterEventType.RUN_FAILURE and error is None and event.message:
            error = event.message
    return RunOutcome(run_id, STATUS_NAMES.get(status.value, status.value.lower()), report, error, blobs_read)


def run_in_process(
    instance: DagsterInstance, run_tags: dict[str, str], resources: Mapping[str, ConfigurableResource] | None = None
) -> RunOutcome:
    """Execute one ingestion run in this process, recorded on the instance like any other run.

    ``resources`` (tests) replace the ones built from the settings: the same job on those instances.
    """
    if resources is None:
        job = build_reconstructable_job(
            __name__, ingest_job_definition.__name__, reconstructable_kwargs={"configuration": _configuration()}
        )
        result = execute_job(job, instance=instance, tags=run_tags, run_config=QUIET_LOGS)
    else:
        from lightfast_pipeline.definitions import ingestion_definitions

        job = ingestion_definitions(resources).resolve_job_def(JOB_NAME)
        result = job.execute_in_process(instance=instance, tags=run_tags, run_config=QUIET_LOGS, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    status = (
        run.status if run is not None else (DagsterRunStatus.SUCCESS if result.success else DagsterRunStatus.FAILURE)
    )
    return _outcome(result.run_id, status, result.all_events)


def submit_to_queue(ui_url: str, location: str, run_tags: dict[str, str]) -> str:
    """Submit the run through the webserver's GraphQL API (as the UI does); returns its id."""
    variables = {
        "executionParams": {
            "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": JOB_NAME},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in run_tags.items()]},
        }
    }
    try:
        response = requests.post(f"{ui_url}/graphql", json={"query": LAUNCH_RUN, "variables": variables}, timeout=60)
        response.raise_for_status()
    except requests.RequestException as error:
        raise LaunchError(f"cannot reach the Dagster webserver at {ui_url} to queue the run: {error}") from error
    data = response.json().get("data", {}).get("launchRun") or {}
    if data.get("__typename") != "LaunchRunSuccess":
        detail = data.get("message") or "; ".join(e["message"] for e in data.get("errors", [])) or str(response.json())
        raise LaunchError(f"the webserver refused the run ({data.get('__typename', 'error')}): {detail}")
    return data["run"]["runId"]


def wait_for_run(instance: DagsterInstance, run_id: str, poll_seconds: float = 1.0) -> RunOutcome:
    """Wait until the run finishes, then read its outcome from the event log."""
    while True:
        run = instance.get_run_by_id(run_id)
        if run is None:
            raise LaunchError(f"run {run_id} disappeared from the instance")
        if run.is_finished:
            events = [record.dagster_event for record in instance.all_logs(run_id) if record.dagster_event]
            return _outcome(run_id, run.status, events)
        time.sleep(poll_seconds)

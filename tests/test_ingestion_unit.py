"""Ingestion is one unit: the UI cannot materialise part of it, and a run never replays a stored plan."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInvalidSubsetError, DagsterRunStatus
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from lightfast_pipeline.catalog.models import Repository
from lightfast_pipeline.definitions import ingestion_definitions
from lightfast_pipeline.runs.launch import LAUNCH_RUN, wait_for_run
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.settings import Settings
from tests.support.gitrepo import DEFAULT_CONFIG, GitRepo
from tests.support.ingest import assert_store_equals_ledger, connect_local, document_paths, ingest
from tests.support.resources import ingestion_resources

LOCATION = "lightfast_pipeline"
WORKSPACE = f"""
load_from:
  - python_module:
      module_name: lightfast_pipeline.definitions
      location_name: {LOCATION}
"""


@pytest.fixture
def runtime(lightfast_env: Settings) -> Runtime:
    return Runtime(lightfast_env)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "handbook")
    repo.write("lightfast.yml", DEFAULT_CONFIG)
    repo.write("onboarding.md", "# Onboarding\n\nNew joiners get a laptop and a mentor on day one.\n")
    repo.commit("handbook")
    return repo


@pytest.fixture
def repository_uid(runtime: Runtime, repo: GitRepo) -> str:
    repository = connect_local(runtime, repo.path)
    return repository.uid


def _launch(context, job_name: str, keys: list[str], partition: str) -> dict:
    """What the UI's "Materialize" sends for a selection of assets on one partition."""
    variables = {
        "executionParams": {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "jobName": job_name,
                "assetSelection": [{"path": [key]} for key in keys],
            },
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
    }
    return execute_dagster_graphql(context, LAUNCH_RUN, variables).data["launchRun"]


def test_the_ui_cannot_materialise_embeddings_alone(runtime: Runtime, repository_uid: str, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    with define_out_of_process_context(str(workspace), None, runtime.instance) as context:
        for job_name in ("__ASSET_JOB", "ingest_repository"):
            for keys in (["embeddings"], ["documents", "chunks"]):
                refused = _launch(context, job_name, keys, repository_uid)
                assert refused["__typename"] == "InvalidSubsetError", refused
                assert "does not support subsetting" in refused["message"]
        assert runtime.instance.get_runs() == []
        # the whole unit is accepted; launched as the daemon dequeues it, it runs in a run worker process
        launched = _launch(context, "__ASSET_JOB", ["documents", "chunks", "embeddings"], repository_uid)
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert runtime.instance.get_run_by_id(run_id).status == DagsterRunStatus.QUEUED
        runtime.instance.launch_run(run_id, context)
        deadline = time.monotonic() + 300
        while not runtime.instance.get_run_by_id(run_id).is_finished and time.monotonic() < deadline:
            time.sleep(0.5)
    assert runtime.instance.get_run_by_id(run_id).is_finished, "the launched run did not finish in 300 s"
    outcome = wait_for_run(runtime.instance, run_id)
    assert outcome.status == "completed", outcome.error
    assert outcome.report["documents"]["added"] == 1
    [check] = runtime.instance.get_records_for_run(
        outcome.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    assert check.event_log_entry.dagster_event.event_specific_data.passed


def test_a_run_after_the_branch_moved_writes_the_new_head_never_a_stored_plan(
    runtime: Runtime, repo: GitRepo, repository_uid: str
) -> None:
    with runtime.session() as session:
        repository_id = session.query(Repository.id).filter(Repository.uid == repository_uid).scalar()
    first = ingest(runtime, repository_id)
    assert first.status == "completed" and first.commit == repo.head()
    repo.write("oncall.md", "# On-call\n\nThe pager rotates weekly between backend engineers.\n")
    repo.remove("onboarding.md")
    moved = repo.commit("the branch moves")

    job = ingestion_definitions(ingestion_resources(runtime.settings)).resolve_job_def("ingest_repository")
    for selection in ([AssetKey("embeddings")], [AssetKey("chunks"), AssetKey("embeddings")]):
        with pytest.raises(DagsterInvalidSubsetError, match="does not support subsetting"):
            job.execute_in_process(partition_key=repository_uid, instance=runtime.instance, asset_selection=selection)

    second = ingest(runtime, repository_id)
    assert second.status == "completed" and second.commit == moved
    assert second.documents["added"] == 1 and second.documents["deleted"] == 1
    assert document_paths(runtime, repository_id) == {"oncall.md": 1}
    assert assert_store_equals_ledger(runtime, repository_id) == 1
    # No stage hands its plan to the next through storage: there is nothing a later run could replay.
    storage = Path(runtime.instance.storage_directory())
    assert not (storage / "documents").exists() and not (storage / "chunks").exists()

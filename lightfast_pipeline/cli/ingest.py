"""`lightfast ingest REPO`: run the ingestion job on the Dagster instance, wait, summarise."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import update

from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.log import record_activity
from lightfast_pipeline.catalog.models import ActivityEvent
from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors
from lightfast_pipeline.ingestion import progress as embedding_progress
from lightfast_pipeline.launch import (
    failure_message,
    ingest_report,
    ingestion_tags,
    run_ingestion,
    run_status,
)
from lightfast_pipeline.repositories import RepositoryError, find_repository

EMPTY_DOCUMENTS = {"added": 0, "modified": 0, "deleted": 0, "unchanged": 0, "skipped": 0}
EMPTY_CHUNKS = {"embedded": 0, "reused": 0, "deleted": 0}


def _run_with_progress(runtime, run_tags: dict[str, str], name: str):
    """Run the job with a Rich progress bar fed by the embedding stage."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"ingesting {name}: reading and chunking", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, description=f"ingesting {name}: embedding", completed=done, total=total)

        embedding_progress.add_listener(update)
        try:
            return run_ingestion(runtime.instance, run_tags)
        finally:
            embedding_progress.remove_listener(update)


@user_errors(RepositoryError)
def ingest(
    repo: str = typer.Argument(..., help="Repository id or name."),
    full: bool = typer.Option(False, "--full", help="Re-read and re-chunk every file (vectors still reused)."),
    json_output: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Ingest a repository now (a Dagster run tagged trigger=manual) and print its summary."""
    runtime = get_runtime()
    user = runtime.settings.user
    with runtime.session() as session:
        repository = find_repository(session, repo)
        run_tags = ingestion_tags(
            trigger="manual",
            user=user,
            workspace_slug=repository.workspace.slug,
            repository_uid=repository.uid,
            repository_name=repository.full_name,
            full=full,
        )
        activity = record_activity(
            session,
            action=actions.REINDEX_REQUESTED,
            entity_type="repository",
            entity_id=repository.id,
            actor=user,
            repository=repository,
            status="in_progress",
            reason="full reindex" if full else "manual ingest",
        )
        session.flush()
        activity_id, name = activity.id, repository.full_name
    result = run_ingestion(runtime.instance, run_tags) if json_output else _run_with_progress(runtime, run_tags, name)
    status = run_status(result)
    report = ingest_report(result)
    error = failure_message(result) if status != "completed" else None
    with runtime.session() as session:
        session.execute(
            update(ActivityEvent)
            .where(ActivityEvent.id == activity_id)
            .values(run_id=result.run_id, status="success" if status == "completed" else "failure", message=error)
        )
    summary = {
        "run_id": result.run_id,
        "status": status,
        "commit": report.get("commit"),
        "documents": report.get("documents", EMPTY_DOCUMENTS),
        "chunks": report.get("chunks", EMPTY_CHUNKS),
    }
    if json_output:
        print_json(summary)
    else:
        docs, chunks = summary["documents"], summary["chunks"]
        console.print(f"run {result.run_id}: [bold]{status}[/] at {(summary['commit'] or '')[:12]}")
        console.print(
            f"documents: {docs['added']} added, {docs['modified']} modified, {docs['deleted']} deleted, "
            f"{docs['unchanged']} unchanged, {docs['skipped']} skipped"
        )
        console.print(f"chunks: {chunks['embedded']} embedded, {chunks['reused']} reused, {chunks['deleted']} deleted")
    if status != "completed":
        fail(f"run {result.run_id} {status}: {error or 'see the run in the Dagster UI'}")

"""`lightfast ingest REPO`: run the ingestion job on the Dagster instance, wait, summarise."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lightfast_pipeline.cli.common import console, fail, get_runtime, print_json, user_errors

if TYPE_CHECKING:  # Dagster is imported by the command, not by the CLI
    from lightfast_pipeline.runs.launch import RunOutcome
    from lightfast_pipeline.runtime import Runtime

EMPTY_DOCUMENTS = {"added": 0, "modified": 0, "deleted": 0, "unchanged": 0, "skipped": 0}
EMPTY_CHUNKS = {"embedded": 0, "reused": 0, "deleted": 0}


def _run(runtime: Runtime, run_tags: dict[str, str], name: str, quiet: bool) -> RunOutcome:
    """Queue the run when a daemon serves the run queue (and wait for it), else execute it in this process."""
    from lightfast_pipeline.runs.launch import run_in_process, submit_to_queue, uses_run_queue, wait_for_run
    from lightfast_pipeline.settings import load_notify_settings

    instance = runtime.instance
    if uses_run_queue(instance):
        run_id = submit_to_queue(load_notify_settings().dagster_ui_url, runtime.settings.code_location, run_tags)
        if quiet:
            return wait_for_run(instance, run_id)
        with console.status(f"run {run_id} queued for {name}; waiting for it to finish …"):
            return wait_for_run(instance, run_id)
    return run_in_process(instance, run_tags) if quiet else _run_with_progress(runtime, run_tags, name)


def _run_with_progress(runtime: Runtime, run_tags: dict[str, str], name: str) -> RunOutcome:
    """Run the job with a Rich progress bar of documents committed, moved by each batch."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from lightfast_pipeline.ingestion import progress as batch_progress
    from lightfast_pipeline.runs.launch import run_in_process

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"ingesting {name}: planning", total=None)

        def update(done: batch_progress.BatchDone) -> None:
            description = f"ingesting {name}: batch {done.batch}/{done.batches} committed"
            bar.update(task, description=description, completed=done.documents, total=done.documents_total)

        batch_progress.add_listener(update)
        try:
            return run_in_process(runtime.instance, run_tags)
        finally:
            batch_progress.remove_listener(update)


def ingest_repository(runtime: Runtime, repo: str, *, full: bool, quiet: bool) -> tuple[dict, str | None]:
    """Record the manual request, run the job and return its summary and error (shared with `store rebuild`)."""
    from lightfast_pipeline.runs.manual import finish_request, request_ingestion

    request = request_ingestion(runtime, repo, full=full, user=runtime.settings.user)
    result = _run(runtime, request.run_tags, request.repository_name, quiet=quiet)
    finish_request(runtime, request, result)
    status, report = result.status, result.report
    error = result.error if status != "completed" else None
    summary = {
        "run_id": result.run_id,
        "status": status,
        "commit": report.get("commit"),
        "documents": report.get("documents", EMPTY_DOCUMENTS),
        "chunks": report.get("chunks", EMPTY_CHUNKS),
        "batches": report.get("batches", 0),
        "blobs_read": result.blobs_read,
    }
    return summary, error


def ingest(
    repo: str = typer.Argument(..., help="Repository id or name."),
    full: bool = typer.Option(False, "--full", help="Re-read and re-chunk every file (vectors still reused)."),
    json_output: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Ingest a repository now (a Dagster run tagged trigger=manual) and print its summary."""
    from lightfast_pipeline.runs.launch import LaunchError
    from lightfast_pipeline.workspaces.repositories import RepositoryError

    with user_errors(RepositoryError, LaunchError):
        summary, error = ingest_repository(get_runtime(), repo, full=full, quiet=json_output)
    run_id, status = summary["run_id"], summary["status"]
    if json_output:
        print_json(summary)
    else:
        docs, chunks = summary["documents"], summary["chunks"]
        where = f" at {summary['commit'][:12]}" if summary["commit"] else ""
        console.print(f"run {run_id}: [bold]{status}[/]{where}")
        console.print(
            f"documents: {docs['added']} added, {docs['modified']} modified, {docs['deleted']} deleted, "
            f"{docs['unchanged']} unchanged, {docs['skipped']} skipped"
        )
        console.print(f"chunks: {chunks['embedded']} embedded, {chunks['reused']} reused, {chunks['deleted']} deleted")
    if status != "completed":
        fail(f"run {run_id} {status}: {error or 'see the run in the Dagster UI'}")

"""`lightfast jobs`: list, inspect, summarise and cancel ingestion jobs (Dagster runs)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from lightfast_pipeline.cli.common import get_runtime, print_json, user_errors

if TYPE_CHECKING:  # each command imports the jobs API (and Dagster) when it runs
    from lightfast_pipeline.runs.jobs import Job

MAX_WINDOW_HOURS = 24 * 36_600  # a century, as for `lightfast stats --range`
app = typer.Typer(help="Ingestion jobs, read from Dagster's run history.", no_args_is_help=True)
DEFAULT_LIMIT = 20  # = runs.jobs.DEFAULT_LIMIT (tests/test_cli_imports.py keeps them equal)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
WORKSPACE_OPTION = typer.Option(None, "--workspace", "-w", help="Workspace slug (default: all workspaces).")
RUN_ID_ARGUMENT = typer.Argument(..., help="Job (run) id.")


def _line(job: Job) -> str:
    duration = f"{job.duration_ms} ms" if job.duration_ms is not None else "-"
    created = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{job.id}  {job.status:<9}  {created}  {duration:>10}  "
        f"{job.trigger or '-':<9}  {job.workspace or '-'}  {job.repository or '-'}"
    )


def _print_jobs(jobs: list[Job]) -> None:
    if not jobs:
        typer.echo("no jobs")
    for job in jobs:
        typer.echo(_line(job))


@app.command("list")
def list_command(
    workspace: str | None = WORKSPACE_OPTION,
    status: str | None = typer.Option(None, "--status", help="queued|running|completed|failed|cancelled"),
    repo: str | None = typer.Option(None, "--repo", help="Repository uid."),
    trigger: str | None = typer.Option(None, "--trigger", help="manual|scheduled|webhook|automatic"),
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", help="Jobs per page (1-100)."),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Jobs, newest first, one page at a time."""
    from lightfast_pipeline.runs.jobs import JobError, list_jobs

    with user_errors(JobError):
        page = list_jobs(
            get_runtime().instance,
            workspace,
            status=status,
            repository=repo,
            trigger=trigger,
            limit=limit,
            cursor=cursor,
        )
    if as_json:
        print_json(page.to_dict())
        return
    _print_jobs(page.jobs)
    if page.has_more:
        typer.echo(f"more: --cursor {page.next_cursor}")


@app.command("get")
def get_command(
    run_id: str = RUN_ID_ARGUMENT,
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Only a job of this workspace (slug)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """One job with its input, output and error."""
    from lightfast_pipeline.runs.jobs import JobError, get_job

    with user_errors(JobError):
        detail = get_job(get_runtime().instance, run_id, workspace)
    if as_json:
        print_json(detail.to_dict())
        return
    for key, value in detail.to_dict().items():
        shown = json.dumps(value) if isinstance(value, dict) else value
        typer.echo(f"{key}: {'-' if shown is None else shown}")


@app.command("recent")
def recent_command(
    workspace: str | None = WORKSPACE_OPTION,
    limit: int = typer.Option(10, "--limit", help="How many jobs (1-100)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The newest jobs."""
    from lightfast_pipeline.runs.jobs import JobError, recent_jobs

    with user_errors(JobError):
        jobs = recent_jobs(get_runtime().instance, workspace, limit)
    if as_json:
        print_json({"jobs": [job.to_dict() for job in jobs]})
        return
    _print_jobs(jobs)


@app.command("stats")
def stats_command(
    workspace: str | None = WORKSPACE_OPTION,
    hours: float = typer.Option(
        24.0, "--hours", min=0.001, max=MAX_WINDOW_HOURS, help="Window: jobs created in the last N hours."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Counts per status, success rate and mean duration of completed jobs."""
    from lightfast_pipeline.runs.jobs import JobError, statistics

    with user_errors(JobError):
        stats = statistics(get_runtime().instance, workspace, timedelta(hours=hours))
    if as_json:
        print_json(stats.to_dict())
        return
    rate = "-" if stats.success_rate is None else f"{stats.success_rate}%"
    duration = "-" if stats.avg_duration_ms is None else f"{stats.avg_duration_ms} ms"
    typer.echo(f"jobs in the last {hours:g} h: {stats.total}")
    for status, count in stats.by_status.items():
        typer.echo(f"  {status:<9} {count}")
    typer.echo(f"success rate: {rate}")
    typer.echo(f"mean duration of completed jobs: {duration}")


@app.command("cancel")
def cancel_command(run_id: str = RUN_ID_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Cancel a queued or running job (the run really stops); records who cancelled it."""
    from lightfast_pipeline.runs.jobs import JobError, cancel_job

    runtime = get_runtime()
    with user_errors(JobError), runtime.session() as session:
        job = cancel_job(runtime.instance, session, run_id, user=runtime.settings.user)
    if as_json:
        print_json(job.to_dict())
        return
    typer.echo(f"cancelled {job.id} (now {job.status})")

"""`lightfast activity`: the timeline of actions and jobs, with filters, search, export and a live tail."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lightfast_pipeline.activity.times import parse_time
from lightfast_pipeline.cli.common import fail, get_runtime, print_json

if TYPE_CHECKING:  # the timeline reads Dagster's run history: imported when the command runs
    from lightfast_pipeline.activity.timeline import Entry, TimelineFilter


def _line(entry: Entry) -> str:
    reason = entry.to_dict()["reason"] or ""
    where = entry.repository or entry.workspace or "-"
    return (
        f"{entry.at.strftime('%Y-%m-%d %H:%M:%S')}  {entry.status:<11}  {entry.action:<32}  "
        f"{entry.actor:<16}  {where}  {reason}"
    ).rstrip()


def _export(filters: TimelineFilter, fmt: str, output: Path) -> int:
    """Stream every matching entry into ``output`` (written beside it, then renamed: never half a file)."""
    from lightfast_pipeline.activity.export import write_export
    from lightfast_pipeline.activity.timeline import iter_timeline

    runtime = get_runtime()
    partial = output.with_name(output.name + ".partial")
    try:
        with runtime.session() as session, partial.open("w", encoding="utf-8", newline="") as out:
            count = write_export(iter_timeline(session, runtime.instance, filters), out, fmt)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return count


def activity(
    types: list[str] = typer.Option([], "--type", "-t", help="Action or its prefix (repeatable): job, repository."),
    sources: list[str] = typer.Option([], "--source", help="Source type (repeatable): github, local."),
    repository: str | None = typer.Option(None, "--repository", "-r", help="Repository full name or uid."),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Workspace slug."),
    actor: str | None = typer.Option(None, "--actor", help="User login, or 'system'."),
    statuses: list[str] = typer.Option([], "--status", help="success|failure|in_progress|skipped|cancelled."),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO-8601) or age (2h, 7d)."),
    until: str | None = typer.Option(None, "--until", help="Before this time (ISO-8601) or age."),
    search: str | None = typer.Option(None, "--search", "-s", help="Text in repository names, actors, messages."),
    limit: int = typer.Option(50, "--limit", "-n", help="Entries per page (1-1000)."),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (with --follow: one entry per line)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new entries until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between polls with --follow."),
    export: str | None = typer.Option(None, "--export", help="Write every matching entry: csv or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File written by --export."),
) -> None:
    """Who did what, when, and what it caused: activity and jobs, newest first."""
    from lightfast_pipeline.activity.export import FORMATS
    from lightfast_pipeline.activity.timeline import TimelineError, TimelineFilter

    if export is not None and export not in FORMATS:
        fail(f"unknown export format {export!r}; use one of: {', '.join(FORMATS)}")
    if export is not None and output is None:
        fail("--export needs --output FILE")
    if output is not None and export is None:
        fail("--output is only used with --export csv|json")
    if follow and (export is not None or cursor is not None):
        fail("--follow cannot be combined with --export or --cursor")
    try:
        filters = TimelineFilter(
            types=tuple(types),
            sources=tuple(sources),
            repository=repository,
            workspace=workspace,
            actor=actor,
            statuses=tuple(statuses),
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            search=search or None,
        )
        if export is not None and output is not None:
            count = _export(filters, export, output)
            typer.echo(f"exported {count} entries to {output}", err=True)
        elif follow:
            _follow(filters, limit, interval, json_output)
        else:
            _page(filters, limit, cursor, json_output)
    except TimelineError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}")


def _page(filters: TimelineFilter, limit: int, cursor: str | None, json_output: bool) -> None:
    from lightfast_pipeline.activity.timeline import timeline_page

    runtime = get_runtime()
    with runtime.session() as session:
        page = timeline_page(session, runtime.instance, filters, cursor=cursor, limit=limit)
    if json_output:
        print_json(page.to_dict())
        return
    if not page.entries:
        typer.echo("no activity")
    for entry in page.entries:
        typer.echo(_line(entry))
    if page.has_more:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)


def _follow(filters: TimelineFilter, backlog: int, interval: float, json_output: bool) -> None:
    """Print new entries until Ctrl-C or SIGTERM, which end the tail between polls (never inside a query).

    A second Ctrl-C interrupts at once (click prints "Aborted!"), for a poll that hangs on an unreachable database.
    """
    import signal
    import threading

    from lightfast_pipeline.activity.follow import follow as follow_timeline

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    runtime = get_runtime()
    for entry in follow_timeline(
        runtime.session, runtime.instance, filters, backlog=backlog, interval=interval, stop=stop
    ):
        typer.echo(json.dumps(entry.to_dict()) if json_output else _line(entry))

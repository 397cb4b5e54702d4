"""`lightfast stats`: job statistics, comparison, percentiles, hourly series and health from the warehouse."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

import typer

from lightfast_pipeline.cli.common import console, error_console, fail, print_json

if TYPE_CHECKING:  # the warehouse, dbt and Dagster are imported when the command runs
    from lightfast_pipeline.runtime import Runtime


def stats(
    range_: str = typer.Option("24h", "--range", help="24h, 7d, 30d or FROM..TO (ISO dates or times, UTC)."),
    compare: bool = typer.Option(False, "--compare", help="Compare with the previous period of equal length."),
    percentiles: bool = typer.Option(False, "--percentiles", help="Duration p50/p95/p99/max of completed jobs."),
    timeseries: bool = typer.Option(False, "--timeseries", help="Every hour of the range (UTC)."),
    health: bool = typer.Option(False, "--health", help="Health of the workspace, its stores and sources."),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Workspace slug (default: all)."),
    refresh: bool = typer.Option(
        True, "--refresh/--no-refresh", help="When the warehouse is stale, run the metrics job first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Statistics of ingestion jobs (the warehouse's dbt models; a stale warehouse is refreshed first)."""
    from lightfast_pipeline.metrics.ranges import RangeError, parse_range
    from lightfast_pipeline.metrics.stats import WarehouseNotReady, read_stats
    from lightfast_pipeline.runtime import Runtime

    try:
        stats_range = parse_range(range_)
    except RangeError as error:
        fail(str(error), code=2)
    runtime = Runtime()
    if refresh:
        _refresh(runtime, quiet=as_json)
    try:
        result = read_stats(
            runtime.settings.warehouse_path,
            stats_range,
            workspace=workspace,
            compare=compare,
            percentiles=percentiles,
            timeseries=timeseries,
            health=health,
        )
    except WarehouseNotReady as error:
        fail(str(error))
    if as_json:
        print_json(result)
    else:
        _print(result)


def _refresh(runtime: Runtime, *, quiet: bool) -> None:
    """The metrics job when the warehouse is stale, unless another writer is busy (the last refresh answers)."""
    from dagster import DagsterInstance

    from lightfast_pipeline.metrics.current import MetricsJobFailed, bring_current

    settings = runtime.settings
    # stdout is the answer (--json): the job's dbt log lines, which dagster-dbt prints there, go to stderr
    with DagsterInstance.get() as instance, contextlib.redirect_stdout(sys.stderr):
        try:
            outcome = bring_current(settings.warehouse_path, instance, settings.database_url, user=settings.user)
        except MetricsJobFailed as error:
            fail(str(error))
    if outcome.busy and not quiet:
        error_console.print("note: a warehouse refresh is in progress elsewhere; showing the last refresh")


def _value(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value:,.2f}{unit}"


def _print(result: dict[str, Any]) -> None:
    jobs, documents, sources = result["jobs"], result["documents"], result["sources"]
    console.print(f"[bold]Jobs[/] {result['range']['from']} .. {result['range']['to']}", highlight=False)
    console.print(
        f"  total {jobs['total']}  completed {jobs['completed']}  failed {jobs['failed']}  "
        f"cancelled {jobs['cancelled']}  success rate {_value(jobs['success_rate'], '%')}  "
        f"mean duration {_value(jobs['avg_duration_ms'], ' ms')}",
        highlight=False,
    )
    by_type = ", ".join(f"{kind} {count}" for kind, count in sources["by_type"].items()) or "none"
    console.print(
        f"[bold]Documents[/] {documents['total']:,} ({documents['chunks']:,} chunks)   "
        f"[bold]Sources[/] {sources['total']} ({by_type})",
        highlight=False,
    )
    if "comparison" in result:
        console.print("[bold]Compared with the previous period[/]")
        for field, values in result["comparison"].items():
            change = values["change_pct"]
            console.print(
                f"  {field:<16} {_value(values['current']):>12}  previous {_value(values['previous']):>12}  "
                f"change {('-' if change is None else f'{change:+.2f}%')}",
                highlight=False,
            )
    if "percentiles" in result:
        p = result["percentiles"]
        console.print(
            f"[bold]Duration of completed jobs[/] (n={p['sample_size']})  p50 {_value(p['p50'], ' ms')}  "
            f"p95 {_value(p['p95'], ' ms')}  p99 {_value(p['p99'], ' ms')}  max {_value(p['max'], ' ms')}",
            highlight=False,
        )
    if "timeseries" in result:
        console.print("[bold]Hourly (UTC)[/]")
        for hour in result["timeseries"]:
            mean = _value(hour["avg_duration_ms"], " ms")
            console.print(
                f"  {hour['hour']}  jobs {hour['jobs']:>5}  mean {mean:>14}  "
                f"success {_value(hour['success_rate'], '%'):>8}",
                highlight=False,
            )
    if "health" in result:
        health = result["health"]
        console.print(f"[bold]Health[/] workspace {health['workspace']}", highlight=False)
        for group in ("stores", "sources"):
            for name, status in health[group].items():
                console.print(f"  {group[:-1]:<6} {name}: {status}", highlight=False)

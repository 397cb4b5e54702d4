"""Streaming export of timeline entries to CSV or JSON (one entry in memory at a time)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import TextIO

from lightfast_pipeline.activity.timeline import COLUMNS, Entry

FORMATS = ("csv", "json")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP): such cells are
# written with a leading apostrophe, which spreadsheets show as text. JSON is written unchanged.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never evaluates."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def csv_chunks(entries: Iterable[Entry]) -> Iterator[str]:
    """A header, then one CSV row per entry (``impact`` as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for entry in entries:
        row = entry.to_dict()
        row["impact"] = json.dumps(row["impact"], sort_keys=True)
        writer.writerow([_csv_cell(row[column]) for column in COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def json_chunks(entries: Iterable[Entry]) -> Iterator[str]:
    """``{"activity": [...], "next_cursor": null, "has_more": false}``, entry by entry."""
    yield '{"activity": ['
    for count, entry in enumerate(entries):
        yield (",\n  " if count else "\n  ") + json.dumps(entry.to_dict(), ensure_ascii=False)
    yield '\n], "next_cursor": null, "has_more": false}\n'


def export_chunks(entries: Iterable[Entry], fmt: str) -> Iterator[str]:
    """The export of ``entries`` in ``fmt`` (``csv`` or ``json``), in pieces (for files and HTTP streams)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return csv_chunks(entries) if fmt == "csv" else json_chunks(entries)


def write_export(entries: Iterable[Entry], out: TextIO, fmt: str) -> int:
    """Write ``entries`` in ``fmt`` (``csv`` or ``json``); return the number of entries."""
    count = 0

    def counted() -> Iterator[Entry]:
        nonlocal count
        for entry in entries:
            count += 1
            yield entry

    for chunk in export_chunks(counted(), fmt):
        out.write(chunk)
    return count

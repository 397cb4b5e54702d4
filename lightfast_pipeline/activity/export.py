"""Streaming export of timeline entries to CSV or JSON (one entry in memory at a time)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
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


def write_csv(entries: Iterable[Entry], out: TextIO) -> int:
    """Write a header and one row per entry (``impact`` as JSON); return the number of rows."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for entry in entries:
        row = entry.to_dict()
        row["impact"] = json.dumps(row["impact"], sort_keys=True)
        writer.writerow([_csv_cell(row[column]) for column in COLUMNS])
        count += 1
    return count


def write_json(entries: Iterable[Entry], out: TextIO) -> int:
    """Write ``{"activity": [...], "next_cursor": null, "has_more": false}`` entry by entry."""
    out.write('{"activity": [')
    count = 0
    for entry in entries:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(entry.to_dict(), ensure_ascii=False))
        count += 1
    out.write('\n], "next_cursor": null, "has_more": false}\n')
    return count


def write_export(entries: Iterable[Entry], out: TextIO, fmt: str) -> int:
    """Write ``entries`` in ``fmt`` (``csv`` or ``json``); return the number of entries."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return write_csv(entries, out) if fmt == "csv" else write_json(entries, out)

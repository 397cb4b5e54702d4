"""Times users type for the timeline (``--since``/``--until`` and the API's ``since``/``until``): one parser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, *, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (naive = UTC, ``Z`` accepted) or an age such as ``30m``, ``2h``, ``7d`` (that long
    before now). Anything else is a ``TimelineError`` naming both forms."""
    from lightfast_pipeline.activity.timeline import TimelineError  # reads Dagster's runs: imported when needed

    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = match.groups()
        try:
            return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:  # further back than year 1
            raise TimelineError(f"invalid time {value!r}: that is before year 1") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        message = f"invalid time {value!r}: use ISO-8601 (2024-05-01T12:00Z) or an age (30m, 2h, 7d)"
        raise TimelineError(message) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

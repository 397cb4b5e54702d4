"""Time ranges of the statistics: ``24h``, ``7d``, ``30d`` or ``FROM..TO`` (UTC, ``[start, end)``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MAX_RANGE_DAYS = 36_600  # a century: longer relative ranges are typing mistakes, and overflow datetime
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
_RELATIVE = re.compile(r"^(\d+)([hd])$")


class RangeError(ValueError):
    """A range the user wrote that cannot be understood."""


@dataclass(frozen=True)
class StatsRange:
    """``[start, end)`` in UTC (naive datetimes holding UTC wall time, as in the warehouse)."""

    start: datetime
    end: datetime

    @property
    def previous(self) -> StatsRange:
        """The period of the same length just before this one."""
        return StatsRange(self.start - (self.end - self.start), self.start)


def parse_range(text: str, now: datetime | None = None) -> StatsRange:
    """Parse ``24h``/``7d``/``30d`` (any ``<n>h``/``<n>d``) ending now, or ``FROM..TO``.

    FROM and TO are ISO dates or date-times; a date-only TO includes that whole day; times without a
    zone are UTC.
    """
    now = _utc(now or datetime.now(UTC))
    if now.microsecond:  # end at the next whole second, so what happened this second is inside
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        if amount <= 0:
            raise RangeError(f"range {text!r} must be longer than zero")
        hours = amount if unit == "h" else amount * 24
        if hours > MAX_RANGE_DAYS * 24:
            raise RangeError(f"range {text!r} is longer than {MAX_RANGE_DAYS} days")
        return StatsRange(now - timedelta(hours=hours), now)
    if ".." not in text:
        raise RangeError(f"range {text!r}: use 24h, 7d, 30d or FROM..TO (e.g. 2026-01-01..2026-01-31)")
    first, last = (part.strip() for part in text.split("..", 1))
    start = _point(first, text, end=False)
    end = _point(last, text, end=True)
    if end <= start:
        raise RangeError(f"range {text!r} ends before it starts")
    return StatsRange(start, end)


def _point(value: str, text: str, *, end: bool) -> datetime:
    if not value:
        raise RangeError(f"range {text!r}: both ends are needed (FROM..TO)")
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day) + (timedelta(days=1) if end else timedelta())
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise RangeError(f"range {text!r}: {value!r} is not an ISO date or date-time") from None
    except OverflowError:  # the day after 9999-12-31
        raise RangeError(f"range {text!r}: {value!r} is out of range") from None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

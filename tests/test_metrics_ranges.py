"""Parsing `--range`: relative windows end at the next whole second, FROM..TO in UTC, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lightfast_pipeline.metrics.ranges import RangeError, StatsRange, parse_range

NOW = datetime(2026, 3, 10, 12, 30, 15, 250_000, tzinfo=UTC)
END = datetime(2026, 3, 10, 12, 30, 16)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("36h", timedelta(hours=36)),
    ],
)
def test_relative_windows_include_the_current_second(text: str, length: timedelta) -> None:
    assert parse_range(text, NOW) == StatsRange(END - length, END)


def test_explicit_ranges_are_utc_and_a_date_end_includes_the_day() -> None:
    assert parse_range("2026-01-01..2026-01-31", NOW) == StatsRange(datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert parse_range("2026-01-01T10:00:00+02:00..2026-01-01T12:00:00Z", NOW) == StatsRange(
        datetime(2026, 1, 1, 8), datetime(2026, 1, 1, 12)
    )
    assert parse_range("2026-01-01..2026-01-31").previous == StatsRange(datetime(2025, 12, 1), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("week", "use 24h, 7d, 30d or FROM..TO"),
        ("0d", "longer than zero"),
        ("2026-01-02..2026-01-01T00:00:00", "ends before it starts"),
        ("2026-13-01..2026-12-31", "not an ISO date"),
        ("..2026-01-01", "both ends are needed"),
    ],
)
def test_bad_ranges_are_explained(text: str, message: str) -> None:
    with pytest.raises(RangeError, match=message):
        parse_range(text, NOW)

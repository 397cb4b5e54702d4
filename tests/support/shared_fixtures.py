"""The real-data fixtures in ``../shared/fixtures``: a bare clone runs every other test (issue 10, item 7).

Tests that read the folder carry the ``shared_fixtures`` marker (every test using the ``github_app`` fixture
gets it here: the local GitHub answers with the recorded API examples). When the folder is missing they are
skipped, and the run prints one line naming the folder; with ``CI=true`` a missing folder fails the run
instead. No other test may skip: any other skip fails the run.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import FIXTURES

MARKER = "shared_fixtures"
REASON = f"needs the real-data fixtures folder {FIXTURES}, which is missing"
_skipped: list[str] = []
_other_skips: list[str] = []


def fixtures_missing() -> bool:
    """True when the real-data fixtures folder is absent."""
    return not FIXTURES.is_dir()


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: reads the real-data fixtures in ../shared/fixtures")
    if fixtures_missing() and in_ci():
        raise pytest.UsageError(f"the real-data fixtures folder {FIXTURES} is missing (CI=true: not skipping)")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects: `-m "not shared_fixtures"` is the bare-clone subset
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "github_app" in getattr(item, "fixturenames", ()):
            item.add_marker(MARKER)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip before any fixture is set up (module fixtures too), from this one place."""
    if fixtures_missing() and item.get_closest_marker(MARKER) is not None:
        _skipped.append(item.nodeid)
        pytest.skip(REASON)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and report.nodeid not in _skipped:
        _other_skips.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(f"{len(_skipped)} tests skipped: {REASON}")
    if _other_skips:
        terminalreporter.write_line(f"only tests needing {FIXTURES} may skip; also skipped: {', '.join(_other_skips)}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _other_skips and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""A bare clone (no ``../shared/fixtures`` beside it) runs every test that does not read the folder.

The suite is copied into a directory without the folder and pytest runs a few of its modules there: the tests
that read the folder are skipped with one line naming it, the others pass; with ``CI=true`` the run fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

# One module without the fixtures, one that mixes both kinds, one whose tests all need them (via github_app).
MODULES = ["tests/test_config.py", "tests/test_webhooks_receiver.py", "tests/test_github_server.py"]


@pytest.fixture(scope="module")
def bare_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tests and package in a directory whose parent holds no ``shared/fixtures``."""
    root = tmp_path_factory.mktemp("bare") / "project"
    root.mkdir()
    shutil.copytree(PROJECT_ROOT / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "lightfast_pipeline").symlink_to(PROJECT_ROOT / "lightfast_pipeline")
    (root / "dbt_metrics").symlink_to(PROJECT_ROOT / "dbt_metrics")  # a clone has the dbt project (and its manifest)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    assert not (root.parent / "shared").exists()
    return root


def pytest_in(root: Path, *args: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)


def test_tests_needing_the_fixtures_skip_with_one_line_and_the_others_run(bare_clone: Path) -> None:
    completed = pytest_in(bare_clone, *MODULES)
    assert completed.returncode == 0, completed.stdout[-3000:]
    folder = bare_clone.parent / "shared" / "fixtures"
    named = [line for line in completed.stdout.splitlines() if str(folder) in line]
    assert named == [f"7 tests skipped: needs the real-data fixtures folder {folder}, which is missing"]
    assert " 7 skipped" in completed.stdout and " failed" not in completed.stdout


def test_in_ci_a_missing_folder_fails_the_run(bare_clone: Path) -> None:
    completed = pytest_in(bare_clone, "--collect-only", MODULES[0], ci=True)
    assert completed.returncode == pytest.ExitCode.USAGE_ERROR
    assert "shared/fixtures is missing (CI=true" in completed.stderr

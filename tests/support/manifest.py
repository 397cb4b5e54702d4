"""The dbt manifest before any test loads the metrics code location: ``make manifest``'s command, when the
manifest is missing or older than a file of the dbt project (CI's ``make test`` has made it already)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = PROJECT_ROOT / "dbt_metrics"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models/**/*", "macros/**/*", "tests/**/*")


def manifest_is_current() -> bool:
    """True when the manifest exists and no project file changed after it was written."""
    if not MANIFEST.exists():
        return False
    newest = max(path.stat().st_mtime for pattern in PROJECT_FILES for path in DBT_PROJECT.glob(pattern))
    return MANIFEST.stat().st_mtime >= newest


def prepare_manifest() -> None:
    """``dagster-dbt project prepare-and-package`` on the project's ``DbtProject`` (runs ``dbt parse``)."""
    command = [sys.executable, "-m", "dagster_dbt.cli.app", "project", "prepare-and-package"]
    command += ["--file", str(PROJECT_ROOT / "lightfast_pipeline" / "metrics" / "dbt_project.py")]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not MANIFEST.exists():
        raise RuntimeError(f"preparing the dbt manifest failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")

"""Where the dbt_metrics project lives and how the warehouse writer builds its models."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_metrics"
WAREHOUSE_PATH_ENV = "LIGHTFAST_WAREHOUSE_PATH"  # read by dbt_metrics/profiles.yml only
_PROJECT_HASH_CURSOR = "dbt_project_hash"


class DbtBuildError(Exception):
    """A dbt command failed; the message carries dbt's output."""


def project_hash() -> str:
    """Hash of the project's SQL and YAML: the models must be rebuilt when it changes."""
    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        files += sorted(path for path in (DBT_PROJECT_DIR / folder).rglob("*") if path.suffix in {".sql", ".yml"})
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def models_current(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the warehouse holds the models of this version of the project."""
    rows = con.execute("select value from raw.cursors where name = ?", [_PROJECT_HASH_CURSOR]).fetchall()
    return bool(rows) and rows[0][0] == project_hash()


def mark_models_current(con: duckdb.DuckDBPyConnection) -> None:
    """Remember that the models of this project version are built."""
    con.execute("insert or replace into raw.cursors values (?, ?)", [_PROJECT_HASH_CURSOR, project_hash()]).fetchall()


def dbt_env(warehouse: Path) -> dict[str, str]:
    """The environment of a dbt process writing ``warehouse``."""
    return {**os.environ, WAREHOUSE_PATH_ENV: str(warehouse)}


def dbt_executable() -> str:
    """The dbt of this virtual environment (falls back to PATH)."""
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def build_models(warehouse: Path) -> None:
    """Run ``dbt build`` against ``warehouse`` (outside Dagster: first CLI refresh, or a project change)."""
    _dbt("build", warehouse)


def parse_manifest() -> Path:
    """Run ``dbt parse`` (writes ``target/manifest.json``, which ``@dbt_assets`` needs) and return its path."""
    _dbt("parse", DBT_PROJECT_DIR / "target" / "parse-only.duckdb")
    return DBT_PROJECT_DIR / "target" / "manifest.json"


def _dbt(command: str, warehouse: Path) -> None:
    result = subprocess.run(
        [dbt_executable(), command, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        env=dbt_env(warehouse),
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DbtBuildError(f"dbt {command} failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")

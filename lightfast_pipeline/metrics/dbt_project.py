"""The dbt_metrics project as dagster-dbt sees it, and how a dbt command is pointed at a warehouse file.

``dbt_project`` is what ``make manifest`` prepares (``dagster-dbt project prepare-and-package --file`` on this
module: ``dbt parse`` writes ``target/manifest.json``); ``dagster dev`` re-prepares it at load
(``prepare_if_dev`` in ``assets/dbt.py``). Nothing else runs dbt: the models are built by the dbt assets only.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from lightfast_pipeline.metrics.freshness import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt of this virtual environment (falls back to PATH)."""
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def warehouse_vars(warehouse: Path) -> list[str]:
    """The dbt arguments that make ``profiles.yml`` write ``warehouse`` (never the process environment)."""
    return ["--vars", json.dumps({"warehouse_path": str(warehouse)})]

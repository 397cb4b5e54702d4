#!/usr/bin/env bash
# Install what is missing, make PostgreSQL available for the production-configuration tests, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.ci/postgres.sh
export HF_HUB_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"

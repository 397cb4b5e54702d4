#!/usr/bin/env bash
# Install what is missing, make PostgreSQL available for the production-configuration tests, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.ci/postgres.sh
export HF_HUB_OFFLINE=1
.venv/bin/ruff check .
# Two workers (pytest-xdist), one test file each at a time: most of the suite waits on the processes it starts
# (Dagster daemons, run workers, servers), so two files share two cores well. A file stays on one worker, so its
# module fixtures (a seeded API or console, a PostgreSQL database) are built once. LIGHTFAST_TEST_WORKERS=0 runs
# the suite in this process, as before.
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${LIGHTFAST_TEST_WORKERS:-2}" --dist loadfile "$@"

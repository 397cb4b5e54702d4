#!/usr/bin/env bash
# The main job on the embedded default: connect this project's own git repository (README + docs, selected by
# ./lightfast.yml), ingest it with the local embedding model into the embedded LanceDB store, search it, and
# print the job summary. State goes to ./.lightfast (override with LIGHTFAST_HOME).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export LIGHTFAST_HOME=${LIGHTFAST_HOME:-$PWD/.lightfast}
export HF_HUB_OFFLINE=1
lightfast=.venv/bin/lightfast
if ! $lightfast repo show "$PWD" >/dev/null 2>&1; then
  $lightfast repo connect "$PWD"
fi
$lightfast ingest "$PWD"
$lightfast search "how do I run the tests" --top-k 3
$lightfast search "which vector id does a chunk get" --top-k 3

#!/usr/bin/env bash
# Install what is missing into ./.venv (skipped when pyproject.toml is unchanged since the last install), then
# prepare the dbt manifest (`make manifest`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The console's browser tests drive Debian's Chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo_cmd=$([ "$(id -u)" -eq 0 ] && echo "" || echo "sudo")
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip uv
  # torch first with pip: it takes the CPU wheel this kind of machine keeps on disk (uv would fetch a CUDA build).
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/uv pip install --quiet --python .venv/bin/python -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# The dbt manifest the metrics code location loads (a fresh clone has none; a changed model needs a new one).
make --no-print-directory manifest

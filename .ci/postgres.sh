#!/usr/bin/env bash
# Make PostgreSQL server binaries (initdb, pg_ctl) available for the test suite's throwaway server.
# Installs Debian's `postgresql` package only when they are missing. Nothing to do when
# LIGHTFAST_TEST_POSTGRES_URL points at an existing server.
set -euo pipefail

if [[ -n "${LIGHTFAST_TEST_POSTGRES_URL:-}" ]]; then
  echo "postgres: using LIGHTFAST_TEST_POSTGRES_URL"
  exit 0
fi

have_binaries() {
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" && -x "$(pg_config --bindir)/pg_ctl" ]]; then
    return 0
  fi
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

if ! have_binaries; then
  echo "postgres: installing the postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

if ! have_binaries; then
  echo "postgres: initdb/pg_ctl still not found after installing postgresql" >&2
  exit 1
fi
# initdb refuses to run as root: the tests run it as this user.
if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
  echo "postgres: running as root but there is no 'postgres' user to run the server" >&2
  exit 1
fi
echo "postgres: server binaries ready"

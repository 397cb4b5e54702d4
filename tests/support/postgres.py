"""A throwaway PostgreSQL server for the test session (pytest plugin), or ``LIGHTFAST_TEST_POSTGRES_URL``.

Fixtures: ``postgres_server`` (session: admin URL of the server) and ``postgres_url`` (a fresh, empty
database per test, dropped afterwards). The server runs from the machine's binaries (``pg_config --bindir``)
as the ``postgres`` user when the tests run as root (initdb refuses root), with fsync off.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import URL, make_url

URL_VARIABLE = "LIGHTFAST_TEST_POSTGRES_URL"
SERVICE_USER = "postgres"
DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"


def _bindir() -> Path:
    for candidate in ("pg_config", "/usr/bin/pg_config"):
        found = shutil.which(candidate)
        if found:
            bindir = Path(
                subprocess.run([found, "--bindir"], check=True, capture_output=True, text=True).stdout.strip()
            )
            if (bindir / "initdb").exists():
                return bindir
    for initdb in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True):
        return initdb.parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run .ci/postgres.sh "
        f"(installs the Debian 'postgresql' package) or set {URL_VARIABLE}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A server started by :func:`start_server`; ``stop()`` removes it and its data."""

    url: URL
    data_dir: Path
    bindir: Path
    as_user: str | None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its data directory."""
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_server() -> PostgresServer:
    """initdb + pg_ctl start on a free port of 127.0.0.1 (about one second)."""
    bindir = _bindir()
    as_user = SERVICE_USER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="lightfast-pg-"))
    data_dir = root / "data"
    if as_user:
        entry = pwd.getpwnam(as_user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(
        url=URL.create("postgresql+psycopg2", username="postgres", host="127.0.0.1", database="postgres"),
        data_dir=data_dir,
        bindir=bindir,
        as_user=as_user,
    )
    try:
        server._run(
            str(bindir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        for _attempt in range(3):  # the free port can be taken between probe and start
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
            try:
                server._run(
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data_dir),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-o",
                    options,
                    "start",
                )
            except subprocess.CalledProcessError:
                continue
            server.url = server.url.set(port=port)
            return server
        log = (root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start:\n{log}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def create_database(admin_url: URL, name: str) -> URL:
    """Create database ``name`` on the server of ``admin_url`` and return its URL."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin_url.set(database=name)


def drop_database(admin_url: URL, name: str) -> None:
    """Drop database ``name``, closing whatever connections tests left open."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def deploy_environment(url: str, *, max_concurrent_runs: int = 4) -> dict[str, str]:
    """The environment variables ``deploy/dagster.yaml`` reads, pointing at database ``url``."""
    parsed = make_url(url)
    return {
        "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_USER": parsed.username or "postgres",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
        "DAGSTER_PG_DB": parsed.database or "postgres",
        "LIGHTFAST_MAX_CONCURRENT_RUNS": str(max_concurrent_runs),
    }


def write_deploy_instance(dagster_home: Path, **overrides: dict) -> dict:
    """Copy ``deploy/dagster.yaml`` into ``dagster_home``, replacing top-level sections by ``overrides``
    (tests shorten timings such as ``run_monitoring``); returns the written config."""
    config = yaml.safe_load((DEPLOY_DIR / "dagster.yaml").read_text())
    for section, values in overrides.items():
        config[section] = {**config.get(section, {}), **values}
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """Admin URL of the session's PostgreSQL server (started once, torn down at the end)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield make_url(given).set(drivername="postgresql+psycopg2")
        return
    server = start_server()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: URL) -> Iterator[str]:
    """A fresh empty database for one test (``postgresql+psycopg2://`` URL with no password)."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = create_database(postgres_server, name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        drop_database(postgres_server, name)

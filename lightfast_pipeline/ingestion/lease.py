"""One writer per repository: a catalog row held by a run, taken over once its holder is no longer alive.

A holder is alive while its Dagster run is unfinished AND, when it ran on this host, its process still
exists. The process check matters for the embedded default, where nothing marks a run killed with SIGKILL
as failed; in production, run monitoring fails such runs and the first condition suffices across hosts.
A maintenance holder (``maintenance_holder``, e.g. a store rebuild) is no Dagster run: it is alive while its
process is (on this host; on another host until it releases the lease).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from lightfast_pipeline.catalog.models import RepositoryLease, utcnow
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.system.processes import process_exists

POLL_SECONDS = 1.0
MAINTENANCE_PREFIX = "maintenance:"


class LeaseTimeout(Exception):
    """Another run kept the repository for longer than the wait allows."""


def maintenance_holder(task: str) -> str:
    """A unique lease holder for work that is not a Dagster run (fits the holder column)."""
    return f"{MAINTENANCE_PREFIX}{task[:30]}:{uuid.uuid4().hex[:16]}"


def run_alive_on(runtime: Runtime) -> Callable[[str], bool]:
    """Whether a run id is an unfinished run of the runtime's Dagster instance (opened only when asked)."""

    def alive(run_id: str) -> bool:
        run = runtime.instance.get_run_by_id(run_id)
        return run is not None and not run.is_finished

    return alive


def _holder_alive(lease: RepositoryLease, run_alive: Callable[[str], bool]) -> bool:
    if lease.host == socket.gethostname() and lease.pid and not process_exists(lease.pid):
        return False
    if lease.holder.startswith(MAINTENANCE_PREFIX):
        return True
    return run_alive(lease.holder)


def acquire_lease(
    runtime: Runtime,
    repository_id: int,
    holder: str,
    run_alive: Callable[[str], bool],
    *,
    wait_seconds: float = 3600.0,
    on_wait: Callable[[str], None] | None = None,
    on_takeover: Callable[[str], None] | None = None,
) -> None:
    """Take the repository's lease for ``holder``, waiting while a live run holds it.

    ``on_takeover`` is called with the dead holder's run id when a stale lease is taken over.
    """
    deadline = time.monotonic() + wait_seconds
    announced = False
    me = {"holder": holder, "host": socket.gethostname(), "pid": os.getpid()}
    while True:
        try:
            with runtime.session() as session:
                session.add(RepositoryLease(repository_id=repository_id, **me))
            return
        except IntegrityError:
            pass
        with runtime.session() as session:
            current = session.scalar(select(RepositoryLease).where(RepositoryLease.repository_id == repository_id))
            if current is not None and current.holder == holder:
                return
            if current is not None and not _holder_alive(current, run_alive):
                dead_holder = current.holder
                # Compare-and-swap: only one waiting run takes over a stale lease.
                taken = session.execute(
                    update(RepositoryLease)
                    .where(RepositoryLease.repository_id == repository_id, RepositoryLease.holder == dead_holder)
                    .values(**me, acquired_at=utcnow())
                    .execution_options(synchronize_session=False)
                ).rowcount
                if taken:
                    if on_takeover is not None:
                        on_takeover(dead_holder)
                    return
            holder_now = current.holder if current is not None else ""
        if time.monotonic() > deadline:
            raise LeaseTimeout(f"repository is still being ingested by run {holder_now}; try again later")
        if on_wait is not None and not announced:
            on_wait(holder_now)
            announced = True
        time.sleep(POLL_SECONDS)


def release_lease(runtime: Runtime, repository_id: int, holder: str) -> None:
    """Give the lease back (no-op when ``holder`` does not hold it)."""
    with runtime.session() as session:
        session.execute(
            delete(RepositoryLease).where(
                RepositoryLease.repository_id == repository_id, RepositoryLease.holder == holder
            )
        )

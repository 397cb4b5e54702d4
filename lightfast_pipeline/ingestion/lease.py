"""One writer per repository: a catalog row held by a run, taken over once its holder is no longer alive."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from lightfast_pipeline.catalog.models import RepositoryLease, utcnow
from lightfast_pipeline.runtime import Runtime

POLL_SECONDS = 1.0


class LeaseTimeout(Exception):
    """Another run kept the repository for longer than the wait allows."""


def acquire_lease(
    runtime: Runtime,
    repository_id: int,
    holder: str,
    is_alive: Callable[[str], bool],
    *,
    wait_seconds: float = 3600.0,
    on_wait: Callable[[str], None] | None = None,
) -> None:
    """Take the repository's lease for ``holder``, waiting while a live run holds it."""
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            with runtime.session() as session:
                session.add(RepositoryLease(repository_id=repository_id, holder=holder))
            return
        except IntegrityError:
            pass
        with runtime.session() as session:
            current = session.scalar(select(RepositoryLease.holder).where(RepositoryLease.repository_id == repository_id))
            if current == holder:
                return
            if current is not None and not is_alive(current):
                # Compare-and-swap: only one waiting run takes over a stale lease.
                taken = session.execute(
                    update(RepositoryLease)
                    .where(RepositoryLease.repository_id == repository_id, RepositoryLease.holder == current)
                    .values(holder=holder, acquired_at=utcnow())
                ).rowcount
                if taken:
                    return
        if time.monotonic() > deadline:
            raise LeaseTimeout(f"repository is still being ingested by run {current}; try again later")
        if on_wait is not None and not announced:
            on_wait(current or "")
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

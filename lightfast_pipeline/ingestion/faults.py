"""Deterministic fault points: a test names one in ``LIGHTFAST_FAULT`` and the process kills itself there.

``LIGHTFAST_FAULT=<when>:<point>[:batch=<n>]`` with ``when`` ``before`` or ``after`` and ``point`` one of
:data:`POINTS`; ``batch=n`` (1-based) fires only in the n-th committed batch of a run. The switch is read once
per process (``settings.load_ingest_settings``) and is off when unset, which is the production case: a call to
:func:`reached` is then one comparison. The kill is SIGKILL, as the kernel's OOM killer or ``kill -9`` would
do: no ``finally`` block, no atexit handler and no Dagster event runs.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from functools import cache

from lightfast_pipeline.settings import load_ingest_settings

POINTS = ("read", "chunk", "embed", "upsert", "commit", "delete", "rebuild-drop")
WHEN = ("before", "after")


@dataclass(frozen=True)
class Fault:
    """Where the process dies: ``when`` the ``point`` is reached, in batch ``batch`` (any batch if ``None``)."""

    when: str
    point: str
    batch: int | None = None


def parse_fault(spec: str) -> Fault:
    """``after:upsert`` / ``before:commit:batch=2`` → :class:`Fault`; ValueError names what is wrong."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in WHEN or parts[1] not in POINTS:
        raise ValueError(f"LIGHTFAST_FAULT={spec!r}: expected {'|'.join(WHEN)}:{'|'.join(POINTS)}[:batch=N]")
    batch = None
    if len(parts) == 3:
        key, _, value = parts[2].partition("=")
        if key != "batch" or not value.isdigit() or int(value) < 1:
            raise ValueError(f"LIGHTFAST_FAULT={spec!r}: the third part must be batch=N (N ≥ 1)")
        batch = int(value)
    return Fault(parts[0], parts[1], batch)


@cache
def configured_fault() -> Fault | None:
    """The fault this process was started with (read once), or ``None``."""
    spec = load_ingest_settings().fault
    return parse_fault(spec) if spec else None


def reached(when: str, point: str, batch: int | None = None) -> None:
    """Kill this process with SIGKILL if the configured fault is ``when``/``point`` (in this ``batch``)."""
    fault = configured_fault()
    if fault is None or (fault.when, fault.point) != (when, point):
        return
    if fault.batch is not None and fault.batch != batch:
        return
    os.kill(os.getpid(), signal.SIGKILL)

"""Vector index maintenance of one LanceDB table in a short-lived child process (issue 15: bounded memory).

Index maintenance takes memory that a process does not give back: a writer that maintained the index itself
went from 256 to 441 MB RSS between 19,800 and 49,500 rows (266 to 276 MB with no index). So
:class:`LanceDBVectorStore` never does it in its own process: it starts
``python -m lightfast_pipeline.vectorstores.lancedb_child URI TABLE POLICY [--force] [--optimize]
[--cleanup-older-than SECONDS]`` and waits. The child imports Lance alone (not LanceDB), takes the table's
write lock, checks again what is due (another process may have done it), does it in bounded steps
(``lancedb_maintenance.py``), prints one JSON line (action, seconds, its peak RSS in MB) and exits, returning
its memory to the OS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from lightfast_pipeline.vectorstores.base import VectorStoreError
from lightfast_pipeline.vectorstores.lancedb_index import IndexAction, IndexPolicy

MODULE = "lightfast_pipeline.vectorstores.lancedb_child"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the child imports the code its parent runs


@dataclass(frozen=True)
class ChildReport:
    """What the child did: the index action, its wall time and its own peak RSS."""

    action: IndexAction
    seconds: float
    peak_rss_mb: float


def maintain_in_child(
    uri: str,
    table: str,
    policy: IndexPolicy,
    *,
    force: bool = False,
    optimize: bool = False,
    cleanup_older_than: timedelta | None = None,
) -> ChildReport:
    """Run the due index action of ``table`` in a child process and wait for it; raises
    :class:`VectorStoreError` if the child fails. ``optimize``: compact and fold every unindexed row in even
    when nothing is due; ``cleanup_older_than``: then delete the older versions."""
    pythonpath = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", MODULE, uri, table, json.dumps(asdict(policy))]
    command += ["--force"] if force else []
    command += ["--optimize"] if optimize else []
    if cleanup_older_than is not None:
        command += ["--cleanup-older-than", str(cleanup_older_than.total_seconds())]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": pythonpath})
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise VectorStoreError(f"vector index maintenance of {table} failed (exit {done.returncode}): {error}")
    report = json.loads(lines[-1])
    return ChildReport(IndexAction(report["action"]), report["seconds"], report["peak_rss_mb"])


def own_peak_rss_mb() -> float:
    """This process's peak RSS since its ``exec``, in MB. ``getrusage`` would not do: Linux carries the parent's
    peak over into a child's ``ru_maxrss`` at ``exec`` (a writer holding 2.4 GB made every child "peak" there)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    """The child: ``URI TABLE POLICY_JSON [--force] [--optimize] [--cleanup-older-than SECONDS]``."""
    from lightfast_pipeline.vectorstores.lancedb_maintenance import maintain

    parser = argparse.ArgumentParser(prog=MODULE)
    parser.add_argument("uri")
    parser.add_argument("table")
    parser.add_argument("policy", type=json.loads)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--optimize", action="store_true")
    parser.add_argument("--cleanup-older-than", type=float, default=None)
    args = parser.parse_args(argv)
    cleanup = None if args.cleanup_older_than is None else timedelta(seconds=args.cleanup_older_than)
    started = time.perf_counter()
    action = maintain(
        args.uri,
        args.table,
        IndexPolicy(**args.policy),
        force=args.force,
        optimize=args.optimize,
        cleanup_older_than=cleanup,
    )
    peak_mb = own_peak_rss_mb()
    report = {"action": str(action), "seconds": round(time.perf_counter() - started, 3), "peak_rss_mb": peak_mb}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

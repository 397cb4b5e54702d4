"""Vector index maintenance of one LanceDB table in a short-lived child process (issue 15: bounded memory).

Building or refreshing the IVF_SQ index takes memory that grows with the table, and a process does not give it
back: a writer that maintained the index itself went from 256 to 441 MB RSS between 19,800 and 49,500 rows
(266 to 276 MB with no index). So :class:`LanceDBVectorStore` never does it in its own process: it starts
``python -m lightfast_pipeline.vectorstores.lancedb_child URI TABLE POLICY [--force]`` and waits. The child
takes the table's write lock, checks again what is due (another process may have done it), does it, prints
one JSON line (action, seconds, its peak RSS in MB) and exits, returning its memory to the OS.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
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


def maintain_in_child(uri: str, table: str, policy: IndexPolicy, *, force: bool = False) -> ChildReport:
    """Run the due index action of ``table`` in a child process and wait for it; raises
    :class:`VectorStoreError` if the child fails."""
    pythonpath = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", MODULE, uri, table, json.dumps(asdict(policy))] + (["--force"] if force else [])
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": pythonpath})
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise VectorStoreError(f"vector index maintenance of {table} failed (exit {done.returncode}): {error}")
    report = json.loads(lines[-1])
    return ChildReport(IndexAction(report["action"]), report["seconds"], report["peak_rss_mb"])


def main(argv: list[str]) -> None:
    """The child: ``URI TABLE POLICY_JSON [--force]``."""
    from lightfast_pipeline.vectorstores.lancedb_store import LanceDBVectorStore  # here: it imports this module

    uri, table, policy = argv[0], argv[1], IndexPolicy(**json.loads(argv[2]))
    started = time.perf_counter()
    action = LanceDBVectorStore(uri, index_policy=policy).maintain_here(table, force="--force" in argv[3:])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"action": str(action), "seconds": round(time.perf_counter() - started, 3), "peak_rss_mb": peak_mb}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

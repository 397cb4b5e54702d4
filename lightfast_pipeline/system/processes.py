"""Whether a process of this host still exists (lease liveness, the embedding service's watched process)."""

from __future__ import annotations

import os


def process_exists(pid: int) -> bool:
    """True while ``pid`` exists on this host, whoever owns it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True

"""A real Chromium (Debian's package) driven by Playwright, and sign-in to the console."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    """The distribution's Chromium (``scripts/bootstrap.sh`` installs it); skip when it is absent."""
    for candidate in (os.environ.get("LIGHTFAST_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("chromium is not installed (scripts/bootstrap.sh installs it: apt-get install chromium)")


def launch_args() -> list[str]:
    """Chromium flags: no sandbox as root (containers), no GPU."""
    args = ["--disable-gpu", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args

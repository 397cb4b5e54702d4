"""Benchmark: wall time of the real `lightfast` command, as a user runs it in a shell.

Usage: ``.venv/bin/python -m benchmarks.cli [--runs 7] [--no-bytecode-cache] [--baseline SOURCE_TREE]``.
In a temporary ``LIGHTFAST_HOME`` it connects a small git repository (this project's docs), starts the warm
embedding service (``lightfast embedder serve``, local model) and ingests the repository through it; then it
runs each command ``--runs`` times as a fresh process and prints the median and spread of their wall time,
and their CPU time, next to the goals of issue 10 (item 8). ``--baseline`` runs an older source tree
(``git archive COMMIT | tar -x -C DIR``) alternately with this one: a ratio that the machine's load cannot skew.

Commands run as installed, with compiled bytecode: Python caches it in a temporary ``PYTHONPYCACHEPREFIX``
(filled by an untimed first run). ``--no-bytecode-cache`` keeps ``PYTHONDONTWRITEBYTECODE`` as this machine's
environment sets it, where every process compiles every module it imports from source.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BEHIND_PYTHON = Path(sys.executable).parent / "lightfast"
CONFIG = 'version: 1\nstore: docs\ninclude:\n  - "**/*.md"\n'
GOALS = {  # seconds of wall time, median
    "lightfast --help": 0.5,
    "lightfast search QUERY (service warm)": 1.0,
    "lightfast repo list": 0.7,
}


def command(*args: str) -> list[str]:
    """The console script beside this interpreter (what a user runs), else ``python -m lightfast_pipeline.cli``."""
    if BEHIND_PYTHON.exists():
        return [str(BEHIND_PYTHON), *args]
    return [sys.executable, "-m", "lightfast_pipeline.cli", *args]


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds of wall time and of CPU time (user + system) of one process; fails loudly if the command fails.

    The CPU time is what the command costs whatever else loads the machine (its wall time is not, on 2 cores
    shared with other work).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_repository(path: Path) -> Path:
    """A git repository holding this project's README and docs/, committed once."""
    (path / "docs").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", path / "README.md")
    for document in (ROOT / "docs").glob("*.md"):
        shutil.copy(document, path / "docs" / document.name)
    (path / "lightfast.yml").write_text(CONFIG, encoding="utf-8")
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for git in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-q", "-m", "docs"]):
        subprocess.run(["git", "-C", str(path), *git], check=True, capture_output=True)
    return path


def start_service(env: dict[str, str], socket_path: Path, log: Path) -> subprocess.Popen:
    """``lightfast embedder serve``, waited for until it answers (the model is loaded by then)."""
    service = subprocess.Popen(command("embedder", "serve"), env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"the embedding service exited: {log.read_text()}")
        if socket_path.exists():
            transport = httpx.HTTPTransport(uds=str(socket_path))
            try:
                with httpx.Client(transport=transport, base_url="http://embedder") as client:
                    if client.get("/healthz").status_code == 200:
                        return service
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    service.kill()
    raise SystemExit("the embedding service did not answer within 600 s")


Samples = dict[str, dict[str, list[tuple[float, float]]]]  # command → code tree → (wall, CPU) per run


def measure(runs: int, *, bytecode_cache: bool, baseline: Path | None) -> Samples:
    """Wall and CPU times of each command (one untimed run first: caches are warm for every sample).

    With ``baseline`` (a source tree of the project, e.g. ``git archive`` of an older commit), every sample of
    this tree is paired with one of the baseline, run just before it under the same load.
    """
    with tempfile.TemporaryDirectory(prefix="lightfast-cli-bench-") as directory:
        home = Path(directory) / "home"
        env = {**os.environ, "LIGHTFAST_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        if bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(directory) / "pycache")
        for name in ("DAGSTER_HOME", "LIGHTFAST_DATABASE_URL", "LIGHTFAST_LANCEDB_URI", "LIGHTFAST_EMBEDDER"):
            env.pop(name, None)
        trees = {"now": env}
        if baseline is not None:
            trees = {"baseline": {**env, "PYTHONPATH": str(baseline.resolve())}, "now": env}
        repository = make_repository(Path(directory) / "handbook")
        socket_path = home / "embedder.sock"
        home.mkdir()
        service = start_service(env, socket_path, Path(directory) / "embedder.log")
        try:
            run(command("repo", "connect", str(repository)), env)
            run(command("ingest", "handbook"), env)
            commands = {
                "lightfast --help": command("--help"),
                "lightfast search QUERY (service warm)": command("search", "how is a run recorded"),
                "lightfast repo list": command("repo", "list"),
                "lightfast workspace list": command("workspace", "list"),
                "lightfast jobs list (reads runs: Dagster)": command("jobs", "list"),
            }
            samples: Samples = {name: {tree: [] for tree in trees} for name in commands}
            for name, args in commands.items():
                for tree_env in trees.values():
                    run(args, tree_env)
                for _ in range(runs):
                    for tree, tree_env in trees.items():
                        samples[name][tree].append(run(args, tree_env))
            return samples
        finally:
            service.terminate()
            service.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="compile every module in every process")
    parser.add_argument("--baseline", type=Path, help="source tree to compare with, run alternately")
    options = parser.parse_args()
    samples = measure(options.runs, bytecode_cache=not options.no_bytecode_cache, baseline=options.baseline)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'command':<44} {'tree':<9} {'wall median':>11} {'min':>7} {'max':>7} {'CPU median':>10}  goal (wall)")
    for name, trees in samples.items():
        for tree, timings in trees.items():
            walls = [wall for wall, _ in timings]
            median = statistics.median(walls)
            cpu = statistics.median(cpu for _, cpu in timings)
            goal = GOALS.get(name)
            verdict = "" if goal is None or tree != "now" else f"≤ {goal:.1f} s {'ok' if median <= goal else 'OVER'}"
            print(
                f"{name:<44} {tree:<9} {median:>10.2f}s {min(walls):>6.2f}s {max(walls):>6.2f}s {cpu:>9.2f}s  {verdict}"
            )


if __name__ == "__main__":
    main()

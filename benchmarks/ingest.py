"""Benchmark: ingesting corpus-small on the embedded default (local model, LanceDB), against the model alone.

Prints: initial index wall time; wall time of embedding the same chunks with the model alone (the physical
limit); their ratio; no-op reindex wall time and counts; one-edit reindex wall time and counts.
The model is loaded before anything is timed, so both sides compare warm work.

Usage: ``.venv/bin/python -m benchmarks.ingest [--subset docs/tutorial] [--embedder local]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "corpus-small"
CONFIG = 'version: 1\nstore: electron\ninclude:\n  - "docs/**/*.md"\n'
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def _make_repo(root: Path, subset: str) -> Path:
    repo = root / "electron"
    shutil.copytree(CORPUS / subset, repo / subset)
    (repo / "lightfast.yml").write_text(CONFIG)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "corpus")
    return repo


def _timed_ingest(runtime, repository_id: int, embedder: str):
    from lightfast_pipeline.resources.embedder import EmbedderResource
    from tests.support.ingest import ingest

    started = time.perf_counter()
    outcome = ingest(runtime, repository_id, embedder=EmbedderResource(provider=embedder))
    elapsed = time.perf_counter() - started
    assert outcome.status == "completed", outcome.error
    return elapsed, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subset", default="docs", help="folder of corpus-small to ingest (default: all docs)")
    parser.add_argument("--embedder", default="local", help="embedder spec (default: the local model)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(
            {
                "LIGHTFAST_HOME": str(root / "home"),
                "DAGSTER_HOME": str(root / "home" / "dagster"),
                "LIGHTFAST_EMBEDDER": args.embedder,
                "HF_HUB_OFFLINE": "1",
            }
        )
        from sqlalchemy import select

        from lightfast_pipeline.catalog.models import Chunk, SourceType
        from lightfast_pipeline.runtime import Runtime
        from lightfast_pipeline.sources.local_git import LocalGitSource
        from lightfast_pipeline.workspaces.repositories import connect_repository

        repo = _make_repo(root, args.subset)
        runtime = Runtime()
        load_started = time.perf_counter()
        runtime.embedder.embed_documents(["warm up the model"])
        print(f"model load (not counted below): {time.perf_counter() - load_started:.1f} s")
        repository_id = connect_repository(
            runtime,
            workspace_name=None,
            source=LocalGitSource(repo),
            source_type=SourceType.LOCAL.value,
            location=str(repo),
        ).id

        initial_s, initial = _timed_ingest(runtime, repository_id, args.embedder)
        with runtime.session() as session:
            texts = list(session.scalars(select(Chunk.text).order_by(Chunk.vector_id)))
        alone_started = time.perf_counter()
        for start in range(0, len(texts), 64):
            runtime.embedder.embed_documents(texts[start : start + 64])
        alone_s = time.perf_counter() - alone_started

        noop_s, noop = _timed_ingest(runtime, repository_id, args.embedder)

        target = sorted((repo / args.subset).rglob("*.md"))[len(texts) % 7]
        target.write_text(target.read_text() + "\n\nOne more paragraph about keyboard accessibility.\n")
        _git(repo, "commit", "-q", "-am", "one edit")
        edit_s, edit = _timed_ingest(runtime, repository_id, args.embedder)

    print(f"corpus: {args.subset} of corpus-small, {initial.documents['added']} documents, {len(texts)} chunks")
    print(f"initial index wall time:        {initial_s:8.1f} s  {initial.documents} {initial.chunks}")
    print(f"embedding the same chunks alone:{alone_s:8.1f} s  ({len(texts) / alone_s:.1f} chunks/s)")
    print(f"ratio initial / embedding alone:{initial_s / alone_s:8.2f}")
    for label, seconds, outcome in (("no-op reindex", noop_s, noop), ("one-edit reindex", edit_s, edit)):
        counts = f"{outcome.documents} {outcome.chunks} blobs read {outcome.blobs_read}"
        print(f"{label + ' wall time:':32s}{seconds:8.1f} s  {counts}")


if __name__ == "__main__":
    main()

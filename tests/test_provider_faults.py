"""Providers behaving like the real services: throttling (429 with and without Retry-After), 5xx bursts,
plain-text error bodies and eventual consistency. Bursts within the clients' retries are absorbed; past
them the error is clear, names the status and never the key."""

from __future__ import annotations

import time

import pytest

from lightfast_pipeline.embedders.base import EmbeddingError
from lightfast_pipeline.embedders.cohere import CohereEmbedder
from lightfast_pipeline.vectorstores.base import VectorRecord, VectorStoreError
from lightfast_pipeline.vectorstores.pinecone_store import PineconeVectorStore
from tests.support.fake_cohere import FakeCohere, fake_vector
from tests.support.fake_pinecone import FakePinecone
from tests.support.provider_fixtures import FAKE_COHERE_KEY, FAKE_PINECONE_DIMENSION, FAKE_PINECONE_KEY

RECORDS = [
    VectorRecord(
        id=f"repo:doc:{n}", vector=[1.0 if i == n else 0.1 for i in range(FAKE_PINECONE_DIMENSION)], metadata={}
    )
    for n in range(5)
]


@pytest.fixture
def store(fake_pinecone: FakePinecone) -> PineconeVectorStore:
    return PineconeVectorStore(FAKE_PINECONE_KEY, fake_pinecone.url)


@pytest.mark.parametrize(("status", "retry_after"), [(429, "0"), (429, None), (503, None), (500, None)])
def test_pinecone_bursts_within_the_retries_are_absorbed(
    fake_pinecone: FakePinecone, store: PineconeVectorStore, status: int, retry_after: str | None
) -> None:
    fake_pinecone.fail_next(2, status, retry_after)
    store.upsert("ns", RECORDS)
    fake_pinecone.fail_next(2, status, retry_after)
    assert sorted(store.list_ids("ns")) == sorted(record.id for record in RECORDS)
    fake_pinecone.fail_next(2, status, retry_after)
    assert store.query("ns", RECORDS[0].vector, 1)[0].id == RECORDS[0].id


def test_pinecone_outage_past_the_retries_is_a_clear_error(
    fake_pinecone: FakePinecone, store: PineconeVectorStore
) -> None:
    fake_pinecone.fail_next(100, 503)
    with pytest.raises(VectorStoreError, match="503") as raised:
        store.upsert("ns", RECORDS)
    assert FAKE_PINECONE_KEY not in str(raised.value)
    fake_pinecone._failures.clear()  # the outage ends: the next write lands
    store.upsert("ns", RECORDS)
    assert store.count("ns") == len(RECORDS)


def test_pinecone_lag_mode_is_eventually_consistent(fake_pinecone: FakePinecone, store: PineconeVectorStore) -> None:
    fake_pinecone.lag_seconds = 0.5
    store.upsert("ns", RECORDS)
    assert store.count("ns") == 0  # acknowledged, not yet visible
    assert store.fetch("ns", [RECORDS[0].id]) == {}
    time.sleep(0.6)
    assert store.count("ns") == len(RECORDS)
    store.delete("ns", [RECORDS[0].id])
    assert RECORDS[0].id in set(store.list_ids("ns"))
    fake_pinecone.settle()
    assert RECORDS[0].id not in set(store.list_ids("ns"))


@pytest.fixture
def cohere_embedder(fake_cohere: FakeCohere) -> CohereEmbedder:
    return CohereEmbedder(FAKE_COHERE_KEY, base_url=fake_cohere.url, dimension=fake_cohere.dimension)


@pytest.mark.parametrize(
    ("status", "retry_after", "text"), [(429, None, False), (503, None, False), (502, "0", True), (500, "0", True)]
)
def test_cohere_bursts_within_the_retries_are_absorbed(
    fake_cohere: FakeCohere, cohere_embedder: CohereEmbedder, status: int, retry_after: str | None, text: bool
) -> None:
    fake_cohere.fail_next(2, status, retry_after, text=text)
    vectors = cohere_embedder.embed_documents(["alpha", "beta"])
    assert vectors[0] == pytest.approx(fake_vector("alpha", "search_document", fake_cohere.dimension))
    assert len(fake_cohere.embed_calls) == 1


def test_cohere_outage_past_the_retries_is_a_clear_error(
    fake_cohere: FakeCohere, cohere_embedder: CohereEmbedder
) -> None:
    fake_cohere.fail_next(10, 503, "0", text=True)
    with pytest.raises(EmbeddingError, match=r"HTTP 503: upstream connect error") as raised:
        cohere_embedder.embed_documents(["alpha"])
    assert FAKE_COHERE_KEY not in str(raised.value)

"""Pytest fixtures for the local provider servers (registered in ``tests/conftest.py`` ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_cohere import FakeCohere
from tests.support.fake_pinecone import FakePinecone

FAKE_PINECONE_KEY = "pc-test-key-0123456789"
FAKE_COHERE_KEY = "co-test-key-9876543210"
FAKE_PINECONE_DIMENSION = 8


@pytest.fixture
def fake_pinecone() -> Iterator[FakePinecone]:
    """A Pinecone data plane on 127.0.0.1 (8-dimensional cosine index, key ``FAKE_PINECONE_KEY``)."""
    server = FakePinecone(FAKE_PINECONE_KEY, FAKE_PINECONE_DIMENSION)
    yield server
    server.close()


@pytest.fixture
def fake_cohere() -> Iterator[FakeCohere]:
    """A Cohere ``/v2/embed`` on 127.0.0.1 (1024 dimensions, key ``FAKE_COHERE_KEY``)."""
    server = FakeCohere(FAKE_COHERE_KEY)
    yield server
    server.close()

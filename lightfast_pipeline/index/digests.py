"""Sets of ids as sorted arrays of fixed-width digests: 16 bytes per id, however long the id (issue 15).

An id stands for the first 16 bytes of its BLAKE2b hash (two of a billion ids collide with a chance of
about 1e-21). Ids are digested in chunks as they stream in, so no list or set of the strings is built; set
operations are numpy's on sorted, unique arrays, and the few ids that differ are named by reading their source
again (:meth:`Listing.names`).

Digests are numpy ``S16`` items: an item read back loses its trailing zero bytes, so every digest used as a
key comes from an array, never from :func:`hashlib` directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

import numpy as np

T = TypeVar("T")

DIGEST = np.dtype("S16")
CHUNK = 16_384
"""Ids digested at a time: bounds the strings held while streaming (~3 MB of 130-character ids)."""


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size``."""
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


def digests_of(values: Iterable[str]) -> np.ndarray:
    """The digest of each value, in order (duplicates kept)."""
    joined = b"".join(hashlib.blake2b(value.encode(), digest_size=DIGEST.itemsize).digest() for value in values)
    return np.frombuffer(joined, DIGEST)


def unique(parts: list[np.ndarray]) -> np.ndarray:
    """The sorted, unique digests of all the parts, sorted in place (``np.unique`` copies its input twice)."""
    merged = np.concatenate(parts) if parts else np.empty(0, DIGEST)
    merged.sort()
    if merged.size < 2:
        return merged
    first = np.empty(merged.size, bool)
    first[0] = True
    np.not_equal(merged[1:], merged[:-1], out=first[1:])
    return merged if first.all() else merged[first]


def minus(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """The ``values`` (sorted, unique) not in ``sorted_set`` (sorted, unique), in order, by binary search: no
    concatenated copy of both as ``np.setdiff1d`` makes."""
    return values[~member(values, sorted_set)]


def digest_set(values: Iterable[str]) -> np.ndarray:
    """The sorted, unique digests of the values, read in chunks."""
    return unique([np.unique(digests_of(chunk)) for chunk in chunks(values)])


def member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``sorted_set`` (sorted, unique): a binary search each, no copy of the set."""
    if not sorted_set.size:
        return np.zeros(values.shape, bool)
    at = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return sorted_set[at] == values


@dataclass(frozen=True)
class Listing:
    """A set of ids held as digests, and how to read the ids again to name a few of them."""

    digests: np.ndarray
    read: Callable[[], Iterable[str]]

    @classmethod
    def of(cls, read: Callable[[], Iterable[str]]) -> Listing:
        """Digest what ``read`` yields."""
        return cls(digest_set(read()), read)

    def names(self, wanted: np.ndarray) -> dict[bytes, str]:
        """The ids whose digest is in ``wanted`` (sorted, unique), by digest: one more read of the source."""
        found: dict[bytes, str] = {}
        if not wanted.size or not member(wanted, self.digests).any():
            return found
        for chunk in chunks(self.read()):
            part = digests_of(chunk)
            for at in np.flatnonzero(member(part, wanted)):
                found[part[at]] = chunk[at]
        return found

"""The fitted vocabulary as one UTF-8 blob of sorted terms: a read-only mapping term → column.

A dict of the 3.3M terms of 100k synthetic articles costs ~450 MB of Python objects (and seconds to
build, pickle and rebuild when a model is loaded). A `TfidfVectorizer`'s columns are its terms in
string order, so the column of a term is its rank among the sorted terms: here they are one byte array
(each term's UTF-8 bytes followed by a newline, which no term contains) and int64 offsets, ~20 bytes
a term, and a lookup is a binary search in a compiled kernel. UTF-8 bytes sort as the code points
do, so the byte order is Python's string order. It is a `Mapping`, so scikit-learn's own
`TfidfVectorizer.transform` and `get_feature_names_out` accept it as `vocabulary_`; `columns` looks
up many terms in one call (the request path).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
from numba import njit

NEWLINE = 10


@njit(cache=True, nogil=True)
def _compare(blob, start, stop, query, q_start, q_stop):  # pragma: no cover - compiled
    """-1, 0 or 1 as the bytes blob[start:stop] sort before, equal or after query[q_start:q_stop]."""
    n, m = stop - start, q_stop - q_start
    for i in range(min(n, m)):
        a, b = blob[start + i], query[q_start + i]
        if a != b:
            return -1 if a < b else 1
    return 0 if n == m else (-1 if n < m else 1)


@njit(cache=True, nogil=True)
def _lookup(blob, starts, query, q_starts):  # pragma: no cover - compiled
    """Column of each query term (query[q_starts[i]:q_starts[i+1]]) among the sorted terms, -1 if absent."""
    out = np.full(len(q_starts) - 1, -1, dtype=np.int64)
    n_terms = len(starts) - 1
    for i in range(len(q_starts) - 1):
        lo, hi = 0, n_terms
        while lo < hi:
            mid = (lo + hi) // 2
            order = _compare(blob, starts[mid], starts[mid + 1] - 1, query, q_starts[i], q_starts[i + 1])
            if order < 0:
                lo = mid + 1
            elif order > 0:
                hi = mid
            else:
                out[i] = mid
                break
    return out


@njit(cache=True, nogil=True)
def _strictly_sorted(blob, starts):  # pragma: no cover - compiled
    for i in range(len(starts) - 2):
        if _compare(blob, starts[i], starts[i + 1] - 1, blob, starts[i + 1], starts[i + 2] - 1) >= 0:
            return False
    return True


@njit(cache=True, nogil=True)
def _join_pairs(word_blob, word_starts, first, second):  # pragma: no cover - compiled
    """The terms' blob and offsets: word `first[t]`, then a space and word `second[t] - 1` when second[t] > 0."""
    starts = np.zeros(len(first) + 1, dtype=np.int64)
    for t in range(len(first)):
        size = word_starts[first[t] + 1] - word_starts[first[t]]  # the word and its newline
        if second[t] > 0:
            size += word_starts[second[t]] - word_starts[second[t] - 1]
        starts[t + 1] = starts[t] + size
    blob = np.empty(starts[-1], dtype=np.uint8)
    for t in range(len(first)):
        at = starts[t]
        for k in range(word_starts[first[t]], word_starts[first[t] + 1] - 1):
            blob[at] = word_blob[k]
            at += 1
        if second[t] > 0:
            blob[at] = 32  # the space of a word pair
            at += 1
            for k in range(word_starts[second[t] - 1], word_starts[second[t]] - 1):
                blob[at] = word_blob[k]
                at += 1
        blob[at] = NEWLINE
    return blob, starts


def _encoded(terms: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """The terms' UTF-8 bytes each followed by a newline, and their offsets (len + 1)."""
    blob = np.frombuffer("".join(term + "\n" for term in terms).encode("utf-8"), dtype=np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(blob == NEWLINE) + 1]).astype(np.int64)
    return blob, starts


class TermIndex(Mapping[str, int]):
    """Sorted terms → column (their rank), held as one byte array and offsets."""

    def __init__(self, blob: np.ndarray, starts: np.ndarray) -> None:
        self.blob, self.starts = blob, starts

    @classmethod
    def from_terms(cls, terms: Sequence[str]) -> TermIndex:
        """The index of terms given in column order; `ValueError` unless they are distinct, sorted and
        free of newlines (what a `TfidfVectorizer` vocabulary always is)."""
        blob, starts = _encoded(terms)
        if len(starts) - 1 != len(terms) or not _strictly_sorted(blob, starts):
            raise ValueError("a vocabulary's terms must be distinct, sorted and without newlines")
        return cls(blob, starts)

    @classmethod
    def from_mapping(cls, vocabulary: Mapping[str, int]) -> TermIndex:
        """The index of a `TfidfVectorizer.vocabulary_` dict (columns 0…V-1 in the terms' order)."""
        terms = [""] * len(vocabulary)
        for term, column in vocabulary.items():
            terms[column] = term
        return cls.from_terms(terms)

    @classmethod
    def from_word_pairs(cls, words: Sequence[str], first: np.ndarray, second: np.ndarray) -> TermIndex:
        """Terms given as word ids, in column order: `words[first]` alone (second 0) or followed by a
        space and `words[second - 1]` (a word pair) — no string is built per term."""
        word_blob, word_starts = _encoded(words)
        return cls(*_join_pairs(word_blob, word_starts, first.astype(np.int64), second.astype(np.int64)))

    def columns(self, terms: Sequence[str]) -> np.ndarray:
        """The column of each term (int64), -1 for a term the vocabulary does not hold."""
        encoded = [term.encode("utf-8") for term in terms]
        q_starts = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=q_starts[1:])
        query = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return _lookup(self.blob, self.starts, query, q_starts)

    def terms(self) -> list[str]:
        """Every term, in column order."""
        return self.blob.tobytes().decode("utf-8").split("\n")[:-1]

    def __getitem__(self, term: str) -> int:
        column = int(self.columns([term])[0]) if isinstance(term, str) else -1
        if column < 0:
            raise KeyError(term)
        return column

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.columns([term])[0] >= 0

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __iter__(self) -> Iterator[str]:
        return iter(self.terms())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TermIndex):
            return np.array_equal(self.blob, other.blob)
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking like a dict: not hashable

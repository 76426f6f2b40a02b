"""`TermIndex` is the vocabulary dict it replaces: same columns, same misses, same order of terms."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.term_index import TermIndex

WORDS = ["zebra", "café", "ab", "abc", "über", "a1", "日本"]


def _vocabulary() -> dict[str, int]:
    """Words and some pairs in a TfidfVectorizer's column order (sorted strings), non-ASCII included."""
    terms = sorted({*WORDS, "ab abc", "ab zebra", "café über", "abc ab", "日本 ab"})
    return {term: column for column, term in enumerate(terms)}


def test_lookups_equal_the_dict() -> None:
    vocabulary = _vocabulary()
    index = TermIndex.from_mapping(vocabulary)
    queries = [*vocabulary, "", "a", "abcd", "ab ab", "zzz", "cafe", "日", "ab\nabc"]
    assert index.columns(queries).tolist() == [vocabulary.get(term, -1) for term in queries]
    assert dict(index) == vocabulary and len(index) == len(vocabulary)
    assert index.terms() == sorted(vocabulary)
    assert "café über" in index and "cafe" not in index and 3 not in index
    with pytest.raises(KeyError):
        index["missing"]


def test_terms_from_word_ids_equal_the_strings() -> None:
    """The fit builds the terms from word ids (second = id of the pair's second word + 1, 0 for a word alone)."""
    vocabulary = _vocabulary()
    ids = {word: i for i, word in enumerate(WORDS)}
    parts = [term.split(" ") for term in vocabulary]
    first = np.array([ids[p[0]] for p in parts])
    second = np.array([ids[p[1]] + 1 if len(p) > 1 else 0 for p in parts])
    assert TermIndex.from_word_pairs(WORDS, first, second) == TermIndex.from_mapping(vocabulary)


@pytest.mark.parametrize("terms", [["b", "a"], ["a", "a"], ["a\nb", "c"]])
def test_terms_out_of_order_or_with_newlines_are_refused(terms: list[str]) -> None:
    with pytest.raises(ValueError, match="sorted"):
        TermIndex.from_terms(terms)

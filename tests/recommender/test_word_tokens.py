"""The compiled scan finds exactly the tokens of scikit-learn's default token pattern."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recommender.word_tokens import TOKEN_PATTERN, word_ids

TRICKY = [
    "", "a", "ab", " a b cd ", "x_y __ _a 1 12 a1", "end.", "naïve café déjà", "ΟΔΟΣ σοφός ς",
    "٣٤ ½ ² Ⅻ 一二三 日本語のテキスト", "e\u0301t\u00e9 a\u0301b", "emoji 😀😀 x😀y", "tab\tnew\nline\r\x00zero",
    "lone \ud800 surrogate ab\udfffcd", "ﬁnance İstanbul ß", "word" * 100,
]


def findall(texts: list[str]) -> tuple[list[str], list[int]]:
    tokens = [re.findall(TOKEN_PATTERN, text) for text in texts]
    return [t for text in tokens for t in text], [len(text) for text in tokens]


def check(texts: list[str]) -> None:
    words, ids, counts = word_ids(texts)
    expected, expected_counts = findall(texts)
    assert ids.dtype == np.int32 and [words[i] for i in ids] == expected
    assert counts.tolist() == expected_counts
    assert words == list(dict.fromkeys(expected))  # distinct, first occurrence first


@pytest.mark.parametrize("texts", [TRICKY, TRICKY[:5], [t for t in TRICKY if t.isascii()], [], ["", ""]])
def test_tokens_equal_the_regex(texts) -> None:
    check(texts)


def test_random_code_points_equal_the_regex() -> None:
    rng = np.random.default_rng(0)
    ranges = [(32, 127), (160, 0x250), (0x300, 0x370), (0x370, 0x400), (0x600, 0x700), (0x2000, 0x2200),
              (0x3000, 0x3100), (0x4E00, 0x4E40), (0xD800, 0xE000), (0x1F600, 0x1F650), (0x10000, 0x10100)]
    for _ in range(30):
        texts = []
        for _ in range(20):
            lo, hi = ranges[rng.integers(len(ranges))]
            pool = np.concatenate([rng.integers(lo, hi, 8), rng.integers(97, 123, 8), [32, 10, 95]])
            texts.append("".join(map(chr, rng.choice(pool, rng.integers(0, 40)))))
        check(texts)

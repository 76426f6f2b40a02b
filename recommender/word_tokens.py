"""scikit-learn's default token pattern, `(?u)\\b\\w\\w+\\b`, as one compiled scan over a chunk's code points.

`re.findall` makes a Python string per token and a dict lookup per string turns it into an id: most
of a counting task's time. That pattern's tokens are exactly the maximal runs of two or more word
characters (a `\\b` inside a run never holds, and a run of one cannot match), so a scan over the
text's code points with a table of which ones are `\\w` finds the same tokens, and an open-addressing
hash table over the code points themselves gives each distinct word its id (first occurrence first).
Only the distinct words become strings. The table asks the regex engine itself about every non-ASCII
code point present, so `\\w` keeps Python's Unicode meaning exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numba import njit

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # `TfidfVectorizer`'s default, the only one this scan reproduces
_WORD = re.compile(r"\w")
_ASCII_WORD = np.array([_WORD.match(chr(c)) is not None for c in range(128)], dtype=np.bool_)
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def word_ids(texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The distinct words of the texts (first occurrence first), every token as an int32 id into
    them, and the number of tokens of each text: `re.findall(TOKEN_PATTERN, text)` for each text."""
    joined = "\n".join(texts)  # a newline is not a word character: no token spans two texts
    if joined.isascii():
        codes, is_word = np.frombuffer(joined.encode("ascii"), dtype=np.uint8), _ASCII_WORD
    else:
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        is_word = np.zeros(int(codes.max()) + 1, dtype=np.bool_)
        is_word[:128] = _ASCII_WORD
        for code in np.unique(codes[codes >= 128]).tolist():
            is_word[code] = _WORD.match(chr(code)) is not None
    tokens, token_starts, word_starts, word_ends = _scan(codes, is_word)
    words = [joined[start:end] for start, end in zip(word_starts.tolist(), word_ends.tolist(), strict=True)]
    text_ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1) - 1
    counts = np.diff(np.searchsorted(token_starts, text_ends), prepend=0)
    return words, tokens, counts


@njit(cache=True, nogil=True)
def _scan(codes, is_word):  # pragma: no cover - compiled
    """Token ids and start offsets, and each distinct word's first (start, end), of the maximal runs
    of two or more word characters in `codes`.

    The hash table starts small and doubles at half full, and each new word's code points are copied
    to a buffer of their own: the probes and comparisons touch memory the size of the vocabulary,
    which stays in cache, not of the text."""
    n = len(codes)
    most = (n + 1) // 3 + 1  # a token is two characters or more, with a non-word character between two
    capacity = 1 << 12
    slot_hashes = np.zeros(capacity, dtype=np.uint64)
    slot_words = np.full(capacity, -1, dtype=np.int32)
    tokens = np.empty(most, dtype=np.int32)
    token_starts = np.empty(most, dtype=np.int64)
    word_starts = np.empty(most, dtype=np.int64)
    word_ends = np.empty(most, dtype=np.int64)
    spelled = np.empty(n, dtype=codes.dtype)  # the distinct words' code points, one after the other
    spelled_at = np.empty(most + 1, dtype=np.int64)
    spelled_at[0] = 0
    n_tokens = n_words = 0
    i = 0
    while i < n:
        if not is_word[codes[i]]:
            i += 1
            continue
        h = _FNV_OFFSET
        j = i
        while j < n and is_word[codes[j]]:
            h = (h ^ np.uint64(codes[j])) * _FNV_PRIME
            j += 1
        if j - i >= 2:
            slot = h & np.uint64(capacity - 1)
            while True:
                w = slot_words[slot]
                if w < 0:
                    w = n_words
                    slot_words[slot], slot_hashes[slot] = w, h
                    word_starts[w], word_ends[w] = i, j
                    at = spelled_at[w]
                    spelled[at : at + j - i] = codes[i:j]
                    spelled_at[w + 1] = at + j - i
                    n_words += 1
                    if 2 * n_words > capacity:
                        capacity *= 2
                        slot_hashes, slot_words = _rehash(slot_hashes, slot_words, capacity)
                    break
                if slot_hashes[slot] == h and _spells(spelled, spelled_at[w], spelled_at[w + 1], codes, i, j):
                    break
                slot = (slot + np.uint64(1)) & np.uint64(capacity - 1)
            tokens[n_tokens] = w
            token_starts[n_tokens] = i
            n_tokens += 1
        i = j
    return tokens[:n_tokens].copy(), token_starts[:n_tokens].copy(), word_starts[:n_words].copy(), \
        word_ends[:n_words].copy()


@njit(cache=True, nogil=True)
def _rehash(slot_hashes, slot_words, capacity):  # pragma: no cover - compiled
    """The same entries in a table of `capacity` slots (a power of two)."""
    hashes = np.zeros(capacity, dtype=np.uint64)
    words = np.full(capacity, -1, dtype=np.int32)
    for k in range(len(slot_words)):
        if slot_words[k] >= 0:
            slot = slot_hashes[k] & np.uint64(capacity - 1)
            while words[slot] >= 0:
                slot = (slot + np.uint64(1)) & np.uint64(capacity - 1)
            hashes[slot], words[slot] = slot_hashes[k], slot_words[k]
    return hashes, words


@njit(cache=True, nogil=True)
def _spells(spelled, start, end, codes, i, j):  # pragma: no cover - compiled
    """Whether spelled[start:end] and codes[i:j] are the same code points."""
    if end - start != j - i:
        return False
    k = 0
    while k < j - i and spelled[start + k] == codes[i + k]:
        k += 1
    return k == j - i

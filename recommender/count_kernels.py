"""Compiled (numba) kernels for counting terms as integers: a chunk's document frequencies, their
merge across chunks, and each article field's term counts against the pruned vocabulary.

A term is a 64-bit key: `first << 32 | (second + 1)` for the word pair (first, second) and
`first << 32` for the word alone, where the words are integer ids. Because the ids of a chunk are
its own, the parent remaps keys to global ids before merging; the string order of the terms is
recovered later from the words' ranks, so no term string is ever built for a pruned term.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recommender.sparse_kernels import first_at_least

SECOND_MASK = np.int64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _document_terms(tokens, start, stop, pairs, out):  # pragma: no cover - compiled
    """The distinct terms of tokens start…stop-1 sorted into `out`, with their counts; returns how many."""
    m = stop - start
    size = m + (m - 1 if pairs and m > 1 else 0)
    buf = np.empty(size, dtype=np.int64)
    for i in range(m):
        buf[i] = np.int64(tokens[start + i]) << 32
    if pairs:
        for i in range(m - 1):
            buf[m + i] = (np.int64(tokens[start + i]) << 32) | np.int64(tokens[start + i + 1] + 1)
    buf.sort()
    n = 0
    i = 0
    while i < size:
        j = i + 1
        while j < size and buf[j] == buf[i]:
            j += 1
        out[0, n] = buf[i]
        out[1, n] = j - i
        n += 1
        i = j
    return n


@njit(cache=True, nogil=True)
def chunk_frequencies(tokens, doc_starts, pairs, totals):  # pragma: no cover - compiled
    """Sorted distinct term keys of a chunk of documents, their document frequencies and (with
    `totals`, else an empty array) their total counts.

    A document is tokens doc_starts[d]…doc_starts[d+1]-1 (its fields in the order they are joined,
    so the pairs that straddle two fields count, as they do in the whole text).
    """
    n_docs = len(doc_starts) - 1
    total = 0
    for d in range(n_docs):
        m = doc_starts[d + 1] - doc_starts[d]
        total += m + (m - 1 if pairs and m > 1 else 0)
    found = np.empty((2, total), dtype=np.int64)
    n = 0
    for d in range(n_docs):
        n += _document_terms(tokens, doc_starts[d], doc_starts[d + 1], pairs, found[:, n:])
    if totals:
        order = np.argsort(found[0, :n], kind="mergesort")
        sorted_keys = found[0, :n][order]
    else:
        sorted_keys = np.sort(found[0, :n])
    keys = np.empty(n, dtype=np.int64)
    df = np.zeros(n, dtype=np.int32)
    tf = np.zeros(n if totals else 0, dtype=np.int32)
    u = -1
    for i in range(n):
        if u < 0 or keys[u] != sorted_keys[i]:
            u += 1
            keys[u] = sorted_keys[i]
        df[u] += 1
        if totals:
            tf[u] += found[1, order[i]]
    return keys[: u + 1].copy(), df[: u + 1].copy(), tf[: u + 1].copy()


@njit(cache=True, nogil=True)
def merge_frequencies(keys_a, df_a, tf_a, keys_b, df_b, tf_b):  # pragma: no cover - compiled
    """Union of two sorted key tables, frequencies added (one pass to size the result, one to fill it).
    The total counts are merged only when both tables have them."""
    n = 0
    i = j = 0
    while i < len(keys_a) or j < len(keys_b):
        if j == len(keys_b) or (i < len(keys_a) and keys_a[i] < keys_b[j]):
            i += 1
        elif i == len(keys_a) or keys_b[j] < keys_a[i]:
            j += 1
        else:
            i += 1
            j += 1
        n += 1
    totals = len(tf_a) == len(keys_a) and len(tf_b) == len(keys_b)
    keys = np.empty(n, dtype=np.int64)
    df = np.empty(n, dtype=np.int32)
    tf = np.zeros(n if totals else 0, dtype=np.int32)
    i = j = 0
    for u in range(n):
        if j == len(keys_b) or (i < len(keys_a) and keys_a[i] < keys_b[j]):
            keys[u], df[u] = keys_a[i], df_a[i]
            if totals:
                tf[u] = tf_a[i]
            i += 1
        elif i == len(keys_a) or keys_b[j] < keys_a[i]:
            keys[u], df[u] = keys_b[j], df_b[j]
            if totals:
                tf[u] = tf_b[j]
            j += 1
        else:
            keys[u], df[u] = keys_a[i], df_a[i] + df_b[j]
            if totals:
                tf[u] = tf_a[i] + tf_b[j]
            i += 1
            j += 1
    return keys, df, tf


@njit(cache=True, nogil=True)
def _pair_column(pair_starts, pair_seconds, pair_columns, first, second):  # pragma: no cover - compiled
    """Column of the pair (first, second), or -1: a binary search among first's kept pairs."""
    lo = first_at_least(pair_seconds, pair_starts[first], pair_starts[first + 1], second)
    if lo < pair_starts[first + 1] and pair_seconds[lo] == second:
        return pair_columns[lo]
    return -1


@njit(cache=True, nogil=True)
def field_term_counts(  # pragma: no cover - compiled
    tokens, field_starts, field, n_fields, word_columns, pair_starts, pair_seconds, pair_columns, n_terms
):
    """`np.unique(article × V + column, return_counts=True)` over one field of every article.

    Field f of article d is tokens field_starts[d·n_fields + f]…field_starts[d·n_fields + f + 1]-1;
    its terms are its words and the pairs inside it (a pair never straddles two fields here: each
    field is transformed on its own, as text queries are).
    """
    n_docs = (len(field_starts) - 1) // n_fields
    pairs = len(pair_seconds) > 0
    total = 0
    for d in range(n_docs):
        total += 2 * (field_starts[d * n_fields + field + 1] - field_starts[d * n_fields + field])
    keys = np.empty(total, dtype=np.int64)
    counts = np.empty(total, dtype=np.int64)
    n = 0
    for d in range(n_docs):
        start, stop = field_starts[d * n_fields + field], field_starts[d * n_fields + field + 1]
        columns = np.empty(2 * (stop - start), dtype=np.int64)
        m = 0
        for i in range(start, stop):
            column = word_columns[tokens[i]]
            if column >= 0:
                columns[m] = column
                m += 1
            if pairs and i + 1 < stop:
                column = _pair_column(pair_starts, pair_seconds, pair_columns, tokens[i], tokens[i + 1])
                if column >= 0:
                    columns[m] = column
                    m += 1
        found = np.sort(columns[:m])
        i = 0
        while i < m:
            j = i + 1
            while j < m and found[j] == found[i]:
                j += 1
            keys[n] = np.int64(d) * n_terms + found[i]
            counts[n] = j - i
            n += 1
            i = j
    return keys[:n].copy(), counts[:n].copy()


@njit(cache=True, nogil=True)
def union_sum(keys_a, values_a, keys_b, values_b, keys_c, values_c):  # pragma: no cover - compiled
    """Sorted union of three sorted distinct key arrays and each key's values added in float32, in the
    order a, b, c (0 + a + b + c, skipping absent ones): `np.unique` and `+=` per field, in one pass."""
    n = len(keys_a) + len(keys_b) + len(keys_c)
    keys = np.empty(n, dtype=np.int64)
    total = np.zeros(n, dtype=np.float32)
    i = j = k = u = 0
    big = np.iinfo(np.int64).max
    while i < len(keys_a) or j < len(keys_b) or k < len(keys_c):
        a = keys_a[i] if i < len(keys_a) else big
        b = keys_b[j] if j < len(keys_b) else big
        c = keys_c[k] if k < len(keys_c) else big
        key = min(a, min(b, c))
        keys[u] = key
        if a == key:
            total[u] += values_a[i]
            i += 1
        if b == key:
            total[u] += values_b[j]
            j += 1
        if c == key:
            total[u] += values_c[k]
            k += 1
        u += 1
    return keys[:u].copy(), total[:u].copy()

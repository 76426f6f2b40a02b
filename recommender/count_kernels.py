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


RADIX_BITS = 11  # digits of a least-significant-digit radix sort: 2,048 counters stay in the L1 cache


@njit(cache=True, nogil=True)
def chunk_frequencies(tokens, doc_starts, pairs, totals):  # pragma: no cover - compiled
    """Sorted distinct term keys of a chunk of documents, their document frequencies and (with
    `totals`, else an empty array) their total counts.

    A document is tokens doc_starts[d]…doc_starts[d+1]-1 (its fields in the order they are joined,
    so the pairs that straddle two fields count, as they do in the whole text). Every occurrence is
    numbered first × (W + 1) + second + 1 (W the chunk's words; a word alone has second + 1 = 0), a
    number of a few tens of bits, and the occurrences are radix-sorted in a few linear passes; the
    sort is stable, so a term's occurrences stay in document order and its document frequency is
    the number of times the document changes along them.
    """
    n_docs = len(doc_starts) - 1
    base = np.uint64(tokens.max() + 2 if len(tokens) else 1)
    total = 0
    for d in range(n_docs):
        m = doc_starts[d + 1] - doc_starts[d]
        total += m + (m - 1 if pairs and m > 1 else 0)
    codes = np.empty(total, dtype=np.uint64)
    docs = np.empty(total, dtype=np.int32)
    n = 0
    for d in range(n_docs):
        for i in range(doc_starts[d], doc_starts[d + 1]):
            codes[n], docs[n] = np.uint64(tokens[i]) * base, d
            n += 1
            if pairs and i + 1 < doc_starts[d + 1]:
                codes[n], docs[n] = _pair_code(tokens[i], tokens[i + 1], base), d
                n += 1
    codes, docs = _radix_sort(codes, docs, base * base)
    keys = np.empty(total, dtype=np.int64)
    df = np.zeros(total, dtype=np.int32)
    tf = np.zeros(total if totals else 0, dtype=np.int32)
    u = -1
    for i in range(total):
        if i == 0 or codes[i] != codes[i - 1]:
            u += 1
            keys[u] = (np.int64(codes[i] // base) << 32) | np.int64(codes[i] % base)
            df[u] = 1
        elif docs[i] != docs[i - 1]:
            df[u] += 1
        if totals:
            tf[u] += 1
    return keys[: u + 1].copy(), df[: u + 1].copy(), tf[: u + 1].copy()


@njit(cache=True, nogil=True)
def _pair_code(first, second, base):  # pragma: no cover - compiled
    """The number of the pair (first, second) among a chunk's terms: first × base + second + 1."""
    return np.uint64(first) * base + np.uint64(second + 1)


@njit(cache=True, nogil=True)
def _radix_sort(codes, docs, bound):  # pragma: no cover - compiled
    """`codes` (each below `bound`) sorted, stably, with `docs` (any values) in the same order."""
    size = 1 << RADIX_BITS
    mask = np.uint64(size - 1)
    other_codes, other_docs = np.empty_like(codes), np.empty_like(docs)
    shift = np.uint64(0)
    while shift < 64 and ((bound - np.uint64(1)) >> shift) > 0:
        counts = np.zeros(size + 1, dtype=np.int64)
        for c in codes:
            counts[((c >> shift) & mask) + np.uint64(1)] += 1
        for k in range(size):
            counts[k + 1] += counts[k]
        for i in range(len(codes)):
            digit = (codes[i] >> shift) & mask
            at = counts[digit]
            other_codes[at], other_docs[at] = codes[i], docs[i]
            counts[digit] = at + 1
        codes, other_codes, docs, other_docs = other_codes, codes, other_docs, docs
        shift += np.uint64(RADIX_BITS)
    return codes, docs


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
def pair_columns(tokens, field_starts, n_words, kept_codes, kept_columns):  # pragma: no cover - compiled
    """Column of the pair that starts at each token (it and the next token of the same field), -1
    when there is none or it was pruned.

    `kept_codes` are the kept pairs numbered first × (n_words + 1) + second + 1, sorted, and
    `kept_columns` their columns. The chunk's pairs, numbered alike, are radix-sorted and joined with
    them by a galloping merge: the kept pairs are read in order, once per chunk, where a lookup per
    occurrence in a table of the whole vocabulary missed the cache nearly every time.
    """
    columns = np.full(len(tokens), -1, dtype=np.int32)
    if len(kept_codes) == 0:
        return columns
    base = np.uint64(n_words + 1)
    codes = np.empty(len(tokens), dtype=np.uint64)
    at = np.empty(len(tokens), dtype=np.int32)
    m = 0
    for f in range(len(field_starts) - 1):
        for i in range(field_starts[f], field_starts[f + 1] - 1):
            codes[m], at[m] = _pair_code(tokens[i], tokens[i + 1], base), i
            m += 1
    codes, at = _radix_sort(codes[:m], at[:m], base * base)
    n_kept = len(kept_codes)
    k = 0
    for q in range(m):
        code = codes[q]
        if kept_codes[k] < code:  # gallop to the first kept code ≥ code
            step = 1
            while k + step < n_kept and kept_codes[k + step] < code:
                k += step
                step *= 2
            k = first_at_least(kept_codes, k + 1, min(k + step, n_kept), code)
            if k == n_kept:
                break
        if kept_codes[k] == code:
            columns[at[q]] = kept_columns[k]
    return columns


@njit(cache=True, nogil=True)
def field_term_counts(  # pragma: no cover - compiled
    tokens, field_starts, field, n_fields, word_columns, pair_of, n_terms
):
    """`np.unique(article × V + column, return_counts=True)` over one field of every article.

    Field f of article d is tokens field_starts[d·n_fields + f]…field_starts[d·n_fields + f + 1]-1;
    its terms are its words and the pairs inside it (a pair never straddles two fields here: each
    field is transformed on its own, as text queries are); pair_of[i] is the column of the pair
    that starts at token i, or -1 (`pair_columns`).
    """
    n_docs = (len(field_starts) - 1) // n_fields
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
            if pair_of[i] >= 0:
                columns[m] = pair_of[i]
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

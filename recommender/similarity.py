"""The model's similarity: TF-IDF cosine blended with the cosine of a low-rank LSA projection.

    sim(a, b) = (1 - w) · tfidf_a · tfidf_b + w · lsa_a · lsa_b      (rows L2-normalised, w = lsa_weight)

Exact keyword overlap keeps lists precise; the LSA part matches stories that say the same thing in
other words. Every consumer (neighbour search, text queries, ranking rules, explanations) goes
through this one class, so the blend is computed the same way everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.sparse_kernels import rows_dot_all

LSA_TILE_COLUMNS = 2048  # float64 LSA products of up to 64 rows × this many columns fit a 1 MB L2 cache


@dataclass(frozen=True)
class QueryVector:
    """One query in both spaces: a 1 × V sparse TF-IDF row and a length-d LSA vector (or None)."""

    tfidf: sp.csr_matrix
    lsa: np.ndarray | None


@dataclass(frozen=True)
class StripColumns:
    """A range of corpus rows as the columns of the all-pairs step: its postings (terms × the range,
    CSR) and its float64 LSA rows (or None)."""

    columns: range
    postings: sp.csr_matrix
    lsa64: np.ndarray | None


@dataclass(frozen=True)
class _TileBuffers:
    """Scratch for the LSA product of up to `rows` × `LSA_TILE_COLUMNS` cells: float64, then float32."""

    float64: np.ndarray
    float32: np.ndarray

    @classmethod
    def for_rows(cls, rows: int) -> _TileBuffers:
        cells = rows * LSA_TILE_COLUMNS
        return cls(np.empty(cells, dtype=np.float64), np.empty(cells, dtype=np.float32))


def _view(buffer: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The first cells of a flat buffer as a C-contiguous array of `shape`."""
    return buffer[: shape[0] * shape[1]].reshape(shape)


class SimilaritySpace:
    """Blended cosine between the corpus rows, or between a query and the corpus."""

    def __init__(self, tfidf: sp.csr_matrix, lsa: np.ndarray | None = None, lsa_weight: float = 0.0) -> None:
        if lsa is None and lsa_weight:
            raise ValueError("lsa_weight needs an LSA matrix")
        # Sorted terms make a pair's TF-IDF sum run in the same order from either side (see
        # `recommender.sparse_kernels`); the vectorizer's matrices are sorted already (no copy).
        self.tfidf = tfidf if tfidf.has_sorted_indices else tfidf.sorted_indices()
        self.lsa = lsa
        self.lsa_weight = float(lsa_weight) if lsa is not None else 0.0

    @functools.cached_property
    def postings(self) -> sp.csr_matrix:
        """The TF-IDF postings (terms × articles, CSR) for queries against all rows, built on first
        use: an update loads the published model only to read it, and the all-pairs step makes
        each strip's own (see `strip_columns`)."""
        return self.tfidf.T.tocsr()

    @functools.cached_property
    def _lsa64(self) -> np.ndarray | None:
        """The LSA rows in float64 (see `_blend`), made on first use: the all-pairs step converts
        only the rows of the strip at hand."""
        return None if self.lsa is None else self.lsa.astype(np.float64)

    @property
    def n_rows(self) -> int:
        return int(self.tfidf.shape[0])

    def row(self, idx: int) -> QueryVector:
        return QueryVector(self.tfidf[idx], None if self.lsa is None else self.lsa[idx])

    @property
    def strip_column_bytes(self) -> int:
        """The memory `upper_blocks` takes per column: the columns' rows copied and turned
        into postings (8 bytes an entry each, both alive while the postings are made) and their
        float64 LSA rows. (The postings' V + 1 offsets come on top: 13 MB at 3.3M terms.)"""
        entries = -(-self.tfidf.nnz // max(self.n_rows, 1))
        return 16 * entries + (0 if self.lsa is None else 8 * self.lsa.shape[1])

    def strip_columns(self, columns: range) -> StripColumns:
        """Corpus rows prepared as the columns of `upper_blocks`: their own postings (the whole
        corpus's, as big as the matrix, are never built for the all-pairs step) and float64 LSA rows."""
        return StripColumns(
            columns,
            self.tfidf[columns.start : columns.stop].T.tocsr(),
            None if self.lsa is None else self.lsa[columns.start : columns.stop].astype(np.float64),
        )

    def upper_blocks(self, rows: range, strip: StripColumns, step: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """The similarities of cells (i, j), i < j, of `rows` × a strip's columns, `step` rows at a
        time: yields (first row, first column, dense block of those rows × the columns from there on).

        A block's columns are looked up in the strip's short posting lists. The LSA part is added
        `LSA_TILE_COLUMNS` columns at a time, so its float64 product stays in the core's cache
        instead of streaming 8 bytes per cell through memory. Each block overwrites the previous
        one (the caller is done with it when it asks for the next), and the LSA tiles reuse two
        buffers: allocated per block, each of these arrays was above the train's mmap threshold
        (`recommender.heap`), so it was mapped, faulted in page by page and unmapped every time.
        """
        part = strip.columns
        block_buffer = np.empty(step * len(part), dtype=np.float32)
        tile_buffers = None if strip.lsa64 is None else _TileBuffers.for_rows(step)
        for lo in range(rows.start, rows.stop, step):
            first = max(part.start, lo + 1)  # the cells on and below the diagonal are left out
            if first >= part.stop:
                return
            chunk, skip = np.arange(lo, min(lo + step, rows.stop)), first - part.start
            shape = (len(chunk), part.stop - first)
            block = rows_dot_all(self.tfidf, strip.postings, chunk, skip, out=_view(block_buffer, shape))
            if tile_buffers is not None:
                left = self.lsa[chunk].astype(np.float64)
                for start in range(0, block.shape[1], LSA_TILE_COLUMNS):
                    cells = block[:, start : start + LSA_TILE_COLUMNS]
                    right = strip.lsa64[skip + start : skip + start + cells.shape[1]]
                    self._blend(cells, self._lsa_dot(left, right, tile_buffers))
            yield lo, first, block

    def rows_against(self, rows: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        """Dense len(rows) × len(columns) similarities between corpus rows (`columns=None`: all rows)."""
        right_t = self.postings if columns is None else self.tfidf[columns].T.tocsr()
        scores = rows_dot_all(self.tfidf, right_t, rows)
        if self.lsa is None:
            return self._blend(scores, None)
        right = self._lsa64 if columns is None else self._lsa64[columns]
        return self._blend(scores, self._lsa_dot(self._lsa64[rows], right))

    def against_all(self, query: QueryVector, *, like_the_lists: bool = True) -> np.ndarray:
        """Similarity of one query with every corpus row (length N).

        The compiled scatter (bit-identical to SciPy's product) takes a quarter of SciPy's time for
        one row: text queries are on the request path. `like_the_lists=False` (a text, whose scores
        are never compared with the precomputed lists) takes the LSA part as a float32 product,
        which reads half the memory of the float64 one that makes a corpus row's scores equal to
        its list's.
        """
        scores = rows_dot_all(query.tfidf, self.postings, np.zeros(1, dtype=np.int64))[0]
        if self.lsa is None or query.lsa is None:
            return self._blend(scores, None)
        lsa = self._lsa_dot(query.lsa[None, :], self._lsa64)[0] if like_the_lists else self.lsa @ query.lsa
        return self._blend(scores, lsa)

    def pairwise(self, indices: np.ndarray) -> np.ndarray:
        """len × len similarities among the given corpus rows (for de-duplication and diversity).

        The few rows are made dense over the union of their terms, so the product is one small
        BLAS call instead of a sparse transpose over the whole vocabulary.
        """
        rows = self.tfidf[indices]
        columns, position = np.unique(rows.indices, return_inverse=True)
        dense = np.zeros((len(indices), len(columns)), dtype=np.float32)
        dense[np.repeat(np.arange(len(indices)), np.diff(rows.indptr)), position] = rows.data
        scores = dense @ dense.T
        lsa = None if self.lsa is None else self._lsa_dot(self._lsa64[indices], self._lsa64[indices])
        return self._blend(scores, lsa)

    def to_candidates(self, query: QueryVector, indices: np.ndarray) -> np.ndarray:
        """Similarity of one query with the given corpus rows."""
        scores = (self.tfidf[indices] @ query.tfidf.T).toarray().ravel()
        if self.lsa is None or query.lsa is None:
            return self._blend(scores, None)
        return self._blend(scores, self._lsa_dot(query.lsa[None, :], self._lsa64[indices])[0])

    def _lsa_dot(self, left: np.ndarray, right: np.ndarray, buffers: _TileBuffers | None = None) -> np.ndarray:
        """left · rightᵀ accumulated in float64, returned in float32 (see `_blend`); in `buffers`
        (overwritten by the next call) when given."""
        left, right = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
        if buffers is None:
            return (left @ right.T).astype(np.float32)
        shape = (left.shape[0], right.shape[0])
        product = np.matmul(left, right.T, out=_view(buffers.float64, shape))
        rounded = _view(buffers.float32, shape)
        np.copyto(rounded, product, casting="same_kind")
        return rounded

    def _blend(self, tfidf_scores: np.ndarray, lsa_scores: np.ndarray | None) -> np.ndarray:
        """(1 - w) · tfidf + w · lsa in float32, in place.

        The LSA products are accumulated in float64 before rounding, so the same pair gets the same
        float32 score whatever the shapes of the products that computed it (BLAS sums in
        shape-dependent orders): ties between identical stories break alike in a full pass and in an
        incremental update. The element-wise blend is exact-order by construction.
        """
        scores = tfidf_scores.astype(np.float32, copy=False)
        if lsa_scores is None or not self.lsa_weight:
            return scores
        w = np.float32(self.lsa_weight)
        scores *= np.float32(1.0) - w
        lsa_scores *= w
        scores += lsa_scores
        return scores

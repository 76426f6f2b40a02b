"""The model's similarity: TF-IDF cosine blended with the cosines of a list of dense semantic spaces.

    sim(a, b) = (1 - Σ w_i) · tfidf_a · tfidf_b + Σ w_i · d_i(a) · d_i(b)    (rows L2-normalised)

The dense spaces are the model's list (`recommender.spaces`): LSA first (a low-rank projection of the
TF-IDF rows), then any other (an embedding table). Exact keyword overlap keeps lists precise; the
dense parts match stories that say the same thing in other words. Every consumer (neighbour search,
text queries, ranking rules, explanations) goes through this one class, so the blend is computed the
same way everywhere, and every space's part the same way as every other's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.sparse_kernels import rows_dot_all

LSA_TILE_COLUMNS = 2048  # float64 dense products of up to 64 rows × this many columns fit a 1 MB L2 cache


@dataclass(frozen=True)
class DenseRows:
    """One dense space's part of the blend: its N × d float32 rows (unit length, or zero for a text it
    cannot place) and its weight."""

    rows: np.ndarray
    weight: float


@dataclass(frozen=True)
class QueryVector:
    """One query in every space: a 1 × V sparse TF-IDF row and a vector per dense space, in the
    space's order (none: the TF-IDF part alone)."""

    tfidf: sp.csr_matrix
    dense: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class StripColumns:
    """A range of corpus rows as the columns of the all-pairs step: its postings (terms × the range,
    CSR) and its float64 rows in each dense space."""

    columns: range
    postings: sp.csr_matrix
    dense64: tuple[np.ndarray, ...]


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
    """Blended cosine between the corpus rows, or between a query and the corpus.

    `dense` is the list of dense spaces in blend order; `lsa` and `lsa_weight` are shorthand for a
    list of one (LSA). A space with weight 0 takes no part (its products are never computed).
    """

    def __init__(self, tfidf: sp.csr_matrix, lsa: np.ndarray | None = None, lsa_weight: float = 0.0, *,
                 dense: tuple[DenseRows, ...] = ()) -> None:
        if lsa is None and lsa_weight:
            raise ValueError("lsa_weight needs an LSA matrix")
        if lsa is not None and dense:
            raise ValueError("give the LSA rows as `lsa` or in `dense`, not both")
        # Sorted terms make a pair's TF-IDF sum run in the same order from either side (see
        # `recommender.sparse_kernels`); the vectorizer's matrices are sorted already (no copy).
        self.tfidf = tfidf if tfidf.has_sorted_indices else tfidf.sorted_indices()
        spaces = dense if lsa is None else (DenseRows(lsa, float(lsa_weight)),)
        self.dense = tuple(space for space in spaces if space.weight)
        if any(space.rows.shape[0] != self.n_rows for space in self.dense):
            raise ValueError("every dense space needs a row per TF-IDF row")
        self.weights = tuple(np.float32(space.weight) for space in self.dense)
        # 1 - w₁ - w₂ … in float32, subtracted in the list's order: with one space, 1 - w as the blend always was.
        rest = np.float32(1.0)
        for weight in self.weights:
            rest -= weight
        self.tfidf_weight = rest
        self.tfidf_share = 1.0 - sum(float(space.weight) for space in self.dense)  # in float64, for explanations

    @functools.cached_property
    def postings(self) -> sp.csr_matrix:
        """The TF-IDF postings (terms × articles, CSR) for queries against all rows, built on first
        use: an update loads the published model only to read it, and the all-pairs step makes
        each strip's own (see `strip_columns`)."""
        return self.tfidf.T.tocsr()

    @functools.cached_property
    def _dense64(self) -> tuple[np.ndarray, ...]:
        """Each dense space's rows in float64 (see `_blend`), made on first use: the all-pairs step
        converts only the rows of the strip at hand."""
        return tuple(space.rows.astype(np.float64) for space in self.dense)

    @property
    def n_rows(self) -> int:
        return int(self.tfidf.shape[0])

    def row(self, idx: int) -> QueryVector:
        return QueryVector(self.tfidf[idx], tuple(space.rows[idx] for space in self.dense))

    @property
    def strip_column_bytes(self) -> int:
        """The memory `upper_blocks` takes per column: the columns' rows copied and turned
        into postings (8 bytes an entry each, both alive while the postings are made) and their
        float64 dense rows. (The postings' V + 1 offsets come on top: 13 MB at 3.3M terms.)"""
        entries = -(-self.tfidf.nnz // max(self.n_rows, 1))
        return 16 * entries + sum(8 * space.rows.shape[1] for space in self.dense)

    def strip_columns(self, columns: range) -> StripColumns:
        """Corpus rows prepared as the columns of `upper_blocks`: their own postings (the whole
        corpus's, as big as the matrix, are never built for the all-pairs step) and float64 dense rows."""
        return StripColumns(
            columns,
            self.tfidf[columns.start : columns.stop].T.tocsr(),
            tuple(space.rows[columns.start : columns.stop].astype(np.float64) for space in self.dense),
        )

    def upper_blocks(self, rows: range, strip: StripColumns, step: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """The similarities of cells (i, j), i < j, of `rows` × a strip's columns, `step` rows at a
        time: yields (first row, first column, dense block of those rows × the columns from there on).

        A block's columns are looked up in the strip's short posting lists. The dense parts are
        added `LSA_TILE_COLUMNS` columns at a time, so their float64 products stay in the core's
        cache instead of streaming 8 bytes per cell through memory. Each block overwrites the
        previous one (the caller is done with it when it asks for the next), and the dense tiles
        reuse two buffers: allocated per block, each of these arrays was above the train's mmap
        threshold (`recommender.heap`), so it was mapped, faulted in page by page and unmapped
        every time.
        """
        part = strip.columns
        block_buffer = np.empty(step * len(part), dtype=np.float32)
        tile_buffers = _TileBuffers.for_rows(step) if self.dense else None
        for lo in range(rows.start, rows.stop, step):
            first = max(part.start, lo + 1)  # the cells on and below the diagonal are left out
            if first >= part.stop:
                return
            chunk, skip = np.arange(lo, min(lo + step, rows.stop)), first - part.start
            shape = (len(chunk), part.stop - first)
            block = rows_dot_all(self.tfidf, strip.postings, chunk, skip, out=_view(block_buffer, shape))
            if tile_buffers is not None:
                lefts = [space.rows[chunk].astype(np.float64) for space in self.dense]
                for start in range(0, block.shape[1], LSA_TILE_COLUMNS):
                    cells = block[:, start : start + LSA_TILE_COLUMNS]
                    rights = [rows64[skip + start : skip + start + cells.shape[1]] for rows64 in strip.dense64]
                    self._blend_tiles(cells, lefts, rights, tile_buffers)
            yield lo, first, block

    def rows_against(self, rows: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        """Dense len(rows) × len(columns) similarities between corpus rows (`columns=None`: all rows)."""
        right_t = self.postings if columns is None else self.tfidf[columns].T.tocsr()
        scores = rows_dot_all(self.tfidf, right_t, rows)
        return self._blend(scores, [self._lsa_dot(rows64[rows], rows64 if columns is None else rows64[columns])
                                    for rows64 in self._dense64])

    def against_all(self, query: QueryVector, *, like_the_lists: bool = True) -> np.ndarray:
        """Similarity of one query with every corpus row (length N).

        The compiled scatter (bit-identical to SciPy's product) takes a quarter of SciPy's time for
        one row: text queries are on the request path. `like_the_lists=False` (a text, whose scores
        are never compared with the precomputed lists) takes the LSA part as a float32 product,
        which reads half the memory of the float64 one that makes a corpus row's scores equal to
        its list's.
        """
        scores = rows_dot_all(query.tfidf, self.postings, np.zeros(1, dtype=np.int64))[0]
        if not query.dense:
            return self._blend(scores, [])
        if like_the_lists:
            return self._blend(scores, [self._lsa_dot(vector[None, :], rows64)[0]
                                        for vector, rows64 in zip(query.dense, self._dense64, strict=True)])
        return self._blend(scores, [space.rows @ vector for space, vector in zip(self.dense, query.dense, strict=True)])

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
        return self._blend(scores, [self._lsa_dot(rows64[indices], rows64[indices]) for rows64 in self._dense64])

    def to_candidates(self, query: QueryVector, indices: np.ndarray) -> np.ndarray:
        """Similarity of one query with the given corpus rows."""
        scores = (self.tfidf[indices] @ query.tfidf.T).toarray().ravel()
        if not query.dense:
            return self._blend(scores, [])
        return self._blend(scores, [self._lsa_dot(vector[None, :], rows64[indices])[0]
                                    for vector, rows64 in zip(query.dense, self._dense64, strict=True)])

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

    def _blend(self, tfidf_scores: np.ndarray, dense_scores: list[np.ndarray]) -> np.ndarray:
        """(1 - Σ w_i) · tfidf + Σ w_i · dense_i in float32, in place; the dense scores in the spaces'
        order (none: a query without dense vectors, the TF-IDF scores as they are).

        The dense products are accumulated in float64 before rounding, so the same pair gets the same
        float32 score whatever the shapes of the products that computed it (BLAS sums in
        shape-dependent orders): ties between identical stories break alike in a full pass and in an
        incremental update. The element-wise blend is exact-order by construction: the TF-IDF part
        is scaled, then each space's part is added in the list's order.
        """
        scores = tfidf_scores.astype(np.float32, copy=False)
        if not dense_scores:
            return scores
        scores *= self.tfidf_weight
        for weight, part in zip(self.weights, dense_scores, strict=True):
            part *= weight
            scores += part
        return scores

    def _blend_tiles(self, cells: np.ndarray, lefts: list[np.ndarray], rights: list[np.ndarray],
                     buffers: _TileBuffers) -> None:
        """`_blend` of a tile of a block, in place, one space's product at a time in `buffers` (each
        added before the next is computed)."""
        cells *= self.tfidf_weight
        for weight, left, right in zip(self.weights, lefts, rights, strict=True):
            part = self._lsa_dot(left, right, buffers)
            part *= weight
            cells += part

"""Compiled (numba) kernel for the all-pairs step: sparse rows × sparse matrixᵀ into a dense block.

SciPy's sparse product makes two passes (count, then compute), builds a CSR result and densifies it;
scattering straight into the dense output row is one pass and about 3.5× faster on 20 Newsgroups.
Terms are visited in the same order as SciPy's, so the float32 sums are bit-identical to `X @ X.T`.
Imported lazily: only the neighbour search needs it, not the request path.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit


@njit(cache=True, nogil=True)
def _scatter_rows(indptr, indices, data, t_indptr, t_indices, t_data, rows, out):  # pragma: no cover - compiled
    for i in range(rows.shape[0]):
        row = rows[i]
        acc = out[i]
        for p in range(indptr[row], indptr[row + 1]):
            term = indices[p]
            weight = data[p]
            for q in range(t_indptr[term], t_indptr[term + 1]):
                acc[t_indices[q]] += weight * t_data[q]


def rows_dot_all(matrix: sp.csr_matrix, transposed: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Dense float32 `matrix[rows] @ matrix.T`, given `transposed = matrix.T` in CSR form."""
    out = np.zeros((len(rows), transposed.shape[1]), dtype=np.float32)
    _scatter_rows(
        matrix.indptr, matrix.indices, matrix.data.astype(np.float32, copy=False),
        transposed.indptr, transposed.indices, transposed.data.astype(np.float32, copy=False),
        np.asarray(rows, dtype=np.int64), out,
    )
    return out


@njit(cache=True, nogil=True)
def _top_k_scan(block, k, out_idx, out_val):  # pragma: no cover - compiled
    for i in range(block.shape[0]):
        vals = out_val[i]
        idxs = out_idx[i]
        count = 0
        for j in range(block.shape[1]):
            v = block[i, j]
            if v <= 0.0 or (count == k and v <= vals[k - 1]):
                continue
            pos = count if count < k else k - 1
            while pos > 0 and vals[pos - 1] < v:  # equal scores keep the lower index first
                vals[pos] = vals[pos - 1]
                idxs[pos] = idxs[pos - 1]
                pos -= 1
            vals[pos] = v
            idxs[pos] = j
            if count < k:
                count += 1
        for pos in range(count, k):
            vals[pos] = 0.0
            idxs[pos] = -1


def top_k_of_dense(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best positive columns by (-score, column), padded with (-1, 0).

    One pass with a sorted buffer of k: after the first few columns almost every value fails the
    single comparison with the k-th best, so it costs about one read per cell (argpartition: ~10).
    Set excluded cells (a row's own column) to -inf before calling.
    """
    indices = np.empty((block.shape[0], k), dtype=np.int32)
    scores = np.empty((block.shape[0], k), dtype=np.float32)
    if k > 0:
        _top_k_scan(np.ascontiguousarray(block, dtype=np.float32), k, indices, scores)
    return indices, scores

"""Compiled (numba) kernels for the all-pairs step: sparse products into dense blocks, top-K scans.

SciPy's sparse product makes two passes (count, then compute), builds a CSR result and densifies it;
scattering straight into the dense output row is one pass and about 3.5× faster on 20 Newsgroups.
Terms are visited in ascending order, as SciPy does, so the float32 sums are bit-identical to
`X @ X.T` — and symmetric: the score of (i, j) computed from row i equals the one computed from row j
(the same common terms, summed in the same order), so each pair may be computed once.
Text queries use the scatter too: the model store's smoke test runs one, so a worker compiles (or
loads from numba's cache) the kernels before it serves.

Loops index with unsigned integers where they can: numba then leaves out the wrap-around test for
negative indices, which costs ~20% in these one-operation inner loops.

Every top-K buffer is best first by (-score, index) and padded with (score 0, index -1); only
positive scores are ever admitted, so the padding never competes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch_row(typingctx, array, row):  # pragma: no cover - compiled
    """Ask the cache for row `row` of a C-contiguous 2-d array (every 64-byte line of it) before it is
    read or updated: a kernel that scatters into or gathers from rows spread over more memory than the
    cache holds issues this a few entries ahead, so the misses overlap instead of following each other."""
    def codegen(context, builder, signature, args):
        rows = context.make_array(signature.args[0])(context, builder, args[0])
        stride = builder.extract_value(rows.strides, 0)
        start = builder.gep(builder.bitcast(rows.data, ir.IntType(8).as_pointer()), [builder.mul(args[1], stride)])
        function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            ir.VoidType(), [ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(32), ir.IntType(32)]),
            "llvm.prefetch.p0i8")
        flags = [ir.Constant(ir.IntType(32), value) for value in (0, 3, 1)]  # a read, keep in every cache, data
        line = ir.Constant(ir.IntType(64), 64)
        lines = builder.add(builder.udiv(stride, line), ir.Constant(ir.IntType(64), 1))  # a row may start mid-line
        with cgutils.for_range(builder, lines) as loop:
            builder.call(function, [builder.gep(start, [builder.mul(loop.index, line)]), *flags])
        return context.get_dummy_value()
    return types.void(array, types.int64), codegen


@njit(cache=True, nogil=True)
def first_at_least(values, start, stop, value):  # pragma: no cover - compiled
    """Where the sorted `values[start:stop]` reach `value` (the first index with values[i] >= value): a binary
    search, shared by every kernel that walks sorted postings, columns or pairs."""
    while start < stop:
        mid = (start + stop) // 2
        if values[mid] < value:
            start = mid + 1
        else:
            stop = mid
    return start


@njit(cache=True, nogil=True)
def _scatter_rows(  # pragma: no cover - compiled
    indptr, indices, data, t_indptr, t_indices, t_data, rows, col_start, out
):
    # Postings are sorted by column: a row-term's first posting at or after col_start is found by
    # binary search.
    for i in range(rows.shape[0]):
        row = rows[i]
        acc = out[i]
        for p in range(indptr[row], indptr[row + 1]):
            term = indices[p]
            weight = data[p]
            first, end = t_indptr[term], t_indptr[term + 1]
            if col_start > 0:
                first = first_at_least(t_indices, first, end, col_start)
            for q in range(np.uint64(first), np.uint64(end)):
                acc[np.uint64(t_indices[q] - col_start)] += weight * t_data[q]


def rows_dot_all(
    matrix: sp.csr_matrix, transposed: sp.csr_matrix, rows: np.ndarray, first_column: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Dense float32 `matrix[rows] @ transposed[:, first_column:]`, where `transposed` is some
    matrix's transpose in CSR form (sorted indices, as `.T.tocsr()` builds it); written into `out`
    (C-contiguous float32 of that shape, overwritten) when given."""
    shape = (len(rows), transposed.shape[1] - first_column)
    if out is None:
        out = np.zeros(shape, dtype=np.float32)
    elif out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, the product {shape}")
    else:
        out.fill(0)
    _scatter_rows(
        matrix.indptr, matrix.indices, matrix.data.astype(np.float32, copy=False),  # no copy when float32
        transposed.indptr, transposed.indices, transposed.data.astype(np.float32, copy=False),
        np.asarray(rows, dtype=np.int64), first_column, out,
    )
    return out


@njit(cache=True, nogil=True)
def _insert(vals, idxs, v, j):  # pragma: no cover - compiled
    """Put (v, j) into a best-first buffer if it beats the last entry by (-score, index)."""
    last = vals.shape[0] - 1
    if v < vals[last] or (v == vals[last] and idxs[last] <= j):
        return False
    pos = last
    while pos > 0 and (vals[pos - 1] < v or (vals[pos - 1] == v and idxs[pos - 1] > j)):
        vals[pos] = vals[pos - 1]
        idxs[pos] = idxs[pos - 1]
        pos -= 1
    vals[pos] = v
    idxs[pos] = j
    return True


@njit(cache=True, nogil=True)
def offer_to_lists(idx, val, rows, block, columns):  # pragma: no cover - compiled
    """Offer (rows[c], block[c, columns[j]]) to list j for every c and j: the scores of a few rows
    against all rows, given to the lists of the rows they were scored against (scores are
    symmetric). Only positive scores can enter; ties go to the lower index."""
    k = val.shape[1]
    if k == 0:
        return
    for c in range(block.shape[0]):
        line = block[c]
        row = rows[c]
        for j in range(columns.shape[0]):
            v = line[columns[j]]
            if v > 0.0 and v >= val[j, k - 1]:
                _insert(val[j], idx[j], v, row)


@njit(cache=True, nogil=True)
def _top_k_scan(block, out_idx, out_val):  # pragma: no cover - compiled
    k = out_val.shape[1]
    for i in range(block.shape[0]):
        vals = out_val[i]
        idxs = out_idx[i]
        for j in range(block.shape[1]):
            v = block[i, j]
            if v > 0.0 and v >= vals[k - 1]:
                _insert(vals, idxs, v, j)


def top_k_of_dense(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best positive columns by (-score, column), padded with (-1, 0).

    One pass with a sorted buffer of k: after the first few columns almost every value fails the
    single comparison with the k-th best, so it costs about one read per cell (argpartition: ~10).
    Set excluded cells (a row's own column) to -inf before calling.
    """
    indices = np.full((block.shape[0], k), -1, dtype=np.int32)
    scores = np.zeros((block.shape[0], k), dtype=np.float32)
    if k > 0:
        _top_k_scan(np.ascontiguousarray(block, dtype=np.float32), indices, scores)
    return indices, scores


SCAN_GROUP = 32  # cells of a row tested against the bounds at once (see `scan_upper`)
SCAN_RUN_COLUMNS = 256  # the K-lists of this many columns (100 KB at K = 50) stay in the L2 cache


@njit(cache=True, nogil=True)
def scan_upper(block, row0, col0, row_idx, row_val, row_kth, col_idx, col_val, col_kth):  # pragma: no cover - compiled
    """Offer every cell above the diagonal (row0 + a < col0 + b) of a dense block to two top-K lists:
    its row's (`row_*[a]`) and its column's (`col_*[b]`).

    `row_kth` / `col_kth` start as lower bounds of each list's final k-th best score (0: none known)
    and rise with the lists: a cell below them cannot make it, so most cells cost two comparisons
    with contiguous values and never touch the lists. The block is read in runs of columns, so the
    column lists a run updates stay in cache for all its rows.
    """
    k = row_val.shape[1]
    tiny = np.float32(1e-45)  # the least positive float32: v >= tiny is v > 0
    for run in range(0, block.shape[1], SCAN_RUN_COLUMNS):
        run_stop = min(run + SCAN_RUN_COLUMNS, block.shape[1])
        for a in range(block.shape[0]):
            rv = row_val[a]
            ri = row_idx[a]
            kth = row_kth[a]
            line = block[a]
            for group in range(max(run, row0 + a + 1 - col0), run_stop, SCAN_GROUP):
                group_stop = min(group + SCAN_GROUP, run_stop)
                # A vectorised test of the whole group against the bounds as they stand (which only
                # rise): a group no cell of which passes is skipped; any other is scanned as before.
                hit = np.uint8(0)
                for b in range(np.uint64(group), np.uint64(group_stop)):
                    hit |= np.uint8(line[b] >= max(min(kth, col_kth[b]), tiny))
                if hit == 0:
                    continue
                for b in range(np.uint64(group), np.uint64(group_stop)):
                    v = line[b]
                    if v <= 0.0:
                        continue
                    if v >= kth and _insert(rv, ri, v, col0 + np.int64(b)):
                        kth = max(kth, rv[k - 1])
                    if v >= col_kth[b] and _insert(col_val[b], col_idx[b], v, row0 + a):
                        col_kth[b] = max(col_kth[b], col_val[b, k - 1])
            row_kth[a] = kth


@njit(cache=True, nogil=True)
def merge_top_k(idx, val, cand_idx, cand_val):  # pragma: no cover - compiled
    """Merge best-first candidate lists into best-first lists, row by row, by (-score, index)."""
    for i in range(idx.shape[0]):
        for c in range(cand_idx.shape[1]):
            if cand_idx[i, c] < 0 or not _insert(val[i], idx[i], cand_val[i, c], cand_idx[i, c]):
                break  # the rest of a best-first list cannot get in either

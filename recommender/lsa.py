"""The LSA basis: a randomized truncated SVD of the TF-IDF rows that never holds a V × l matrix.

scikit-learn's `TruncatedSVD` (randomized) works on the term side: with V terms (3.3M word pairs at
100k articles) and l = components + oversamples, each of its several V × l float32 intermediates
costs as much as the TF-IDF matrix itself. Here the range finder runs on the article side
(Halko, Martinsson & Tropp, algorithm 4.4): Y = X·Ω, then `n_iter` times Y = X·(Xᵀ·Q), with a QR
after each product. The term side is only ever a block of columns at a time (Ω and Xᵀ·Q per block,
inside the memory budget), and the result, the components, is the one term-side array the model
must keep: stored terms × components (V × d), so that the blocks are written in order as they are
computed — to an unlinked file when the caller gives a directory — and the rows are projected in
the same sweep. Blocks are independent tasks in local threads (on a Dask cluster every task would
ship the whole matrix); their partial products are added in block order, so the basis does not
depend on the scheduling.

The products are memory-bound: each non-zero reads or updates a 240-byte row of Q or Z, and a
block's Z is tens of MB, so the kernels prefetch the rows a few entries ahead; SciPy's economic QR
replaces NumPy's (5× slower on 100k × 60), and BLAS runs single-threaded beside the block threads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from joblib import delayed
from numba import njit
from sklearn.decomposition import TruncatedSVD
from threadpoolctl import threadpool_limits

from recommender.sparse_kernels import first_at_least, prefetch_row
from recommender.term_counts import run_tasks

OMEGA_GROUP_BYTES = 64 * 2**20  # Ω is drawn per group of this many bytes' worth of columns (see `_omega`)
PREFETCH_AHEAD = 16  # entries: how far ahead the kernels ask for the rows of Z they will touch
GRAM_ROWS = 4096  # rows of Z converted to float64 at a time for ZᵀZ (2 MB at width 60)


@njit(cache=True, nogil=True)
def _block_span(indices, start, stop, first, last):  # pragma: no cover - compiled
    """Where a row's sorted columns `indices[start:stop]` fall in the block [first, last)."""
    begin = first_at_least(indices, start, stop, first)
    return begin, first_at_least(indices, begin, stop, last)


@njit(cache=True, nogil=True)
def _columns_t_dot(indptr, indices, data, first, last, q):  # pragma: no cover - compiled
    """X[:, first:last]ᵀ·Q in float32: each row's entries scattered into the rows of Z they update.
    A block's Z (tens of MB) is far larger than the cache, so the rows a few entries ahead are
    prefetched: the misses then overlap (about 1.6× faster than waiting for each in turn)."""
    width = q.shape[1]
    z = np.zeros((last - first, width), dtype=np.float32)
    for i in range(len(indptr) - 1):
        start, stop = _block_span(indices, indptr[i], indptr[i + 1], first, last)
        for k in range(start, stop):
            if k + PREFETCH_AHEAD < stop:
                prefetch_row(z, np.int64(indices[k + PREFETCH_AHEAD] - first))
            j = indices[k] - first
            x = data[k]
            for c in range(width):
                z[j, c] += x * q[i, c]
    return z


@njit(cache=True, nogil=True)
def _columns_dot(indptr, indices, data, first, last, z, y):  # pragma: no cover - compiled
    """Y += X[:, first:last]·Z in float32, each row's sum continued term after term (rows of Z a few
    entries ahead prefetched, as in `_columns_t_dot`). Over the blocks in order, a row's sum runs in
    its terms' order from 0, as SciPy's sparse × dense product does: the same float32 bits."""
    width = z.shape[1]
    acc = np.empty(width, dtype=np.float32)
    for i in range(len(indptr) - 1):
        start, stop = _block_span(indices, indptr[i], indptr[i + 1], first, last)
        if start == stop:
            continue
        acc[:] = y[i]
        for k in range(start, stop):
            if k + PREFETCH_AHEAD < stop:
                prefetch_row(z, np.int64(indices[k + PREFETCH_AHEAD] - first))
            j = indices[k] - first
            x = data[k]
            for c in range(width):
                acc[c] += x * z[j, c]
        y[i, :] = acc


def _omega(first: int, last: int, n_terms: int, group: int, seeds: list[int], width: int) -> np.ndarray:
    """Rows first…last-1 of Ω: each group of `group` columns has its own seeded draw, so Ω is the same
    however the columns are blocked (the memory budget sets the blocks)."""
    parts = []
    for g in range(first // group, (last - 1) // group + 1):
        start = g * group
        draw = np.random.default_rng(seeds[g]).standard_normal((min(group, n_terms - start), width), dtype=np.float32)
        parts.append(draw[max(first - start, 0) : last - start])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _blocks(n_terms: int, group: int, block: int) -> list[tuple[int, int]]:
    """Column blocks of about `block` columns that never straddle a group boundary unless they hold
    whole groups: several whole groups, or a group cut into equal parts."""
    if block >= group:
        step = block // group * group
        return [(first, min(first + step, n_terms)) for first in range(0, n_terms, step)]
    part = -(-group // -(-group // block))
    return [(first, min(first + part, start + group, n_terms))
            for start in range(0, n_terms, group) for first in range(start, min(start + group, n_terms), part)]


def _block_task(x: sp.csr_matrix, first: int, last: int, step: str, *, q: np.ndarray | None = None,
                omega: tuple[int, list[int], int] = (1, [], 0), scale: np.ndarray | None = None) -> np.ndarray:
    """One block of columns [first, last) in one step of the fit: "sample" X·Ω (Ω's rows of the block,
    `omega` = (group, seeds, width)), "power" X·(Xᵀ·Q), "gram" ZᵀZ with Z = Xᵀ·Q, "components" Z·scale
    (the block's rows of the terms × components array)."""
    a = (x.indptr, x.indices, x.data, first, last)
    if step == "sample":
        return _dot(x, first, last, _omega(first, last, x.shape[1], *omega))
    z = _columns_t_dot(*a, q)
    if step == "power":
        return _dot(x, first, last, z)
    if step == "gram":  # in slabs of rows: the float64 copy stays small whatever the block
        gram = np.zeros((z.shape[1], z.shape[1]))
        for start in range(0, len(z), GRAM_ROWS):
            slab = z[start : start + GRAM_ROWS].astype(np.float64)
            gram += slab.T @ slab
        return gram
    return z @ scale


def _dot(x: sp.csr_matrix, first: int, last: int, z: np.ndarray) -> np.ndarray:
    y = np.zeros((x.shape[0], z.shape[1]), dtype=np.float32)
    _columns_dot(x.indptr, x.indices, x.data, first, last, z, y)
    return y


class _TermRows:
    """The terms × components array, filled a block of terms at a time: in memory, or (with a
    directory) written to an unlinked file there and mapped read-only once complete — the blocks are
    written, never mapped, so the array is not resident while the fit runs or after it."""

    def __init__(self, shape: tuple[int, int], directory: str | Path | None) -> None:
        self.shape = shape
        self.file = None if directory is None else tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by finish
        self.array = np.empty(shape, dtype=np.float32) if self.file is None else None

    def write(self, first: int, rows: np.ndarray) -> None:
        if self.array is not None:
            self.array[first : first + len(rows)] = rows
            return
        view = memoryview(np.ascontiguousarray(rows, dtype=np.float32)).cast("B")
        offset = first * self.shape[1] * 4
        while view:
            written = os.pwrite(self.file.fileno(), view, offset)
            view, offset = view[written:], offset + written

    def finish(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        with self.file:
            return np.memmap(self.file, dtype=np.float32, mode="r", shape=self.shape)  # the map outlives the file


def _left_signs(left: np.ndarray) -> np.ndarray:
    """±1 per column: the sign that makes the column's largest entry positive (`svd_flip`'s rule on U)."""
    signs = np.sign(left[np.argmax(np.abs(left), axis=0), np.arange(left.shape[1])])
    return np.where(signs == 0, 1.0, signs)


def fit_lsa(x: sp.csr_matrix, rank: int, *, n_iter: int, oversamples: int, seed: int, n_jobs: int,
            block_bytes: int, spill_dir: str | Path | None = None) -> tuple[TruncatedSVD, np.ndarray]:
    """A `TruncatedSVD` holding the top `rank` right singular vectors of `x`, and the rows of `x`
    projected on them (X·Vᵀ, not normalised; bit for bit SciPy's `x @ components_.T`).

    `components_` is the d × V transposed view of a V × d float32 array (each term's row contiguous:
    the blocks are written in order, and a text's projection gathers the rows of its terms). With
    `spill_dir`, that array is an unlinked file there, mapped read-only: never resident in the fit.
    """
    x = sp.csr_matrix((x.data.astype(np.float32, copy=False), x.indices, x.indptr), shape=x.shape)
    n_rows, n_terms = x.shape
    width = min(rank + oversamples, n_rows, n_terms)
    group = max(1, OMEGA_GROUP_BYTES // (8 * width))
    bounds = _blocks(n_terms, group, max(1, block_bytes // (8 * width)))  # a block's Ω or Z and partial products
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(-(-n_terms // group))]

    def sweep(step: str, **operands: object) -> Iterator[np.ndarray]:
        """The blocks' results in block order, as they finish (never all held at once)."""
        calls = (delayed(_block_task)(x, first, last, step, omega=(group, seeds, width), **operands)
                 for first, last in bounds)
        return run_tasks(calls, n_jobs, prefer="threads", backend="threading")

    def summed(parts: Iterator[np.ndarray]) -> np.ndarray:
        total = next(parts).copy()
        for part in parts:
            total += part  # in block order: the same basis whatever the scheduling
        return total

    with threadpool_limits(1, user_api="blas"):  # small products in every thread: BLAS threads would contend
        y = summed(sweep("sample"))
        for _ in range(n_iter):
            y = summed(sweep("power", q=_orthonormal(y)))
        q = _orthonormal(y)
        gram = summed(sweep("gram", q=q))  # (Qᵀ·X)(Qᵀ·X)ᵀ = U·S²·Uᵀ, with Qᵀ·X = U·S·Vᵀ
        eigenvalues, eigenvectors = np.linalg.eigh(gram)
        top = np.argsort(-eigenvalues, kind="stable")[:rank]
        singular = np.sqrt(np.maximum(eigenvalues[top], 0.0))
        # A fixed sign per component, chosen on the article side (Q·U, known before any term's row is
        # written), so the float32 rounding of the block sums cannot flip it; cosines do not depend on it.
        basis = eigenvectors[:, top] * _left_signs(q @ eigenvectors[:, top])
        scale = np.divide(basis, singular, out=np.zeros_like(basis), where=singular > 0)
        terms = _TermRows((n_terms, len(top)), spill_dir)
        projected = np.zeros((n_rows, len(top)), dtype=np.float32)
        for (first, last), part in zip(bounds, sweep("components", q=q, scale=scale.astype(np.float32)), strict=True):
            terms.write(first, part)  # Vᵀ = S⁻¹·Uᵀ·Qᵀ·X, a block of terms' rows at a time
            _columns_dot(x.indptr, x.indices, x.data, first, last, part, projected)  # in block order: term order
    svd = TruncatedSVD(n_components=rank, algorithm="randomized", n_iter=n_iter, n_oversamples=oversamples,
                       random_state=seed)
    svd.components_ = terms.finish().T
    svd.singular_values_ = singular.astype(np.float32)
    svd.n_features_in_ = n_terms
    return svd, projected


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of Y's columns (SciPy's economic QR: ~5× faster than NumPy's on 100k × 60)."""
    return np.ascontiguousarray(scipy.linalg.qr(y, mode="economic", overwrite_a=True, check_finite=False)[0])

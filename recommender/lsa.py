"""The LSA basis: a randomized truncated SVD of the TF-IDF rows that never holds a V × l matrix.

scikit-learn's `TruncatedSVD` (randomized) works on the term side: with V terms (3.3M word pairs at
100k articles) and l = components + oversamples, each of its several V × l float32 intermediates
costs as much as the TF-IDF matrix itself. Here the range finder runs on the article side
(Halko, Martinsson & Tropp, algorithm 4.4): Y = X·Ω, then `n_iter` times Y = X·(Xᵀ·Q), with a QR
after each product. The term side is only ever a block of columns at a time (Ω and Xᵀ·Q per block,
inside the memory budget), and the result, d × V components, is the one term-side array the
model must keep. Blocks are independent tasks in local threads (on a Dask cluster every task would
ship the whole matrix); their partial products are added in block order, so the basis does not
depend on the scheduling.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from joblib import delayed
from numba import njit
from sklearn.decomposition import TruncatedSVD

from recommender.sparse_kernels import first_at_least
from recommender.term_counts import run_tasks

OMEGA_GROUP_BYTES = 64 * 2**20  # Ω is drawn per group of this many bytes' worth of columns (see `_omega`)


@njit(cache=True, nogil=True)
def _columns_t_dot(indptr, indices, data, first, last, q):  # pragma: no cover - compiled
    """X[:, first:last]ᵀ·Q in float32 (each row's columns are sorted: search the block's start, stop at its end)."""
    width = q.shape[1]
    z = np.zeros((last - first, width), dtype=np.float32)
    for i in range(len(indptr) - 1):
        for k in range(first_at_least(indices, indptr[i], indptr[i + 1], first), indptr[i + 1]):
            j = indices[k] - first
            if j >= last - first:
                break
            x = data[k]
            for c in range(width):
                z[j, c] += x * q[i, c]
    return z


@njit(cache=True, nogil=True)
def _columns_dot(indptr, indices, data, first, last, z):  # pragma: no cover - compiled
    """X[:, first:last]·Z in float32."""
    width = z.shape[1]
    y = np.zeros((len(indptr) - 1, width), dtype=np.float32)
    acc = np.zeros(width, dtype=np.float32)
    for i in range(len(indptr) - 1):
        acc[:] = 0
        for k in range(first_at_least(indices, indptr[i], indptr[i + 1], first), indptr[i + 1]):
            j = indices[k] - first
            if j >= last - first:
                break
            x = data[k]
            for c in range(width):
                acc[c] += x * z[j, c]
        y[i, :] = acc
    return y


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
    `omega` = (group, seeds, width)), "power" X·(Xᵀ·Q), "gram" ZᵀZ with Z = Xᵀ·Q, "components" (Z·scale)ᵀ."""
    a = (x.indptr, x.indices, x.data, first, last)
    if step == "sample":
        return _columns_dot(*a, _omega(first, last, x.shape[1], *omega))
    z = _columns_t_dot(*a, q)
    if step == "power":
        return _columns_dot(*a, z)
    if step == "gram":
        return z.T.astype(np.float64) @ z
    return np.ascontiguousarray((z @ scale).T)


def fit_lsa(x: sp.csr_matrix, rank: int, *, n_iter: int, oversamples: int, seed: int, n_jobs: int,
            block_bytes: int) -> TruncatedSVD:
    """A `TruncatedSVD` holding the top `rank` right singular vectors of `x` (float32 components)."""
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

    y = summed(sweep("sample"))
    for _ in range(n_iter):
        y = summed(sweep("power", q=np.ascontiguousarray(np.linalg.qr(y)[0])))
    q = np.ascontiguousarray(np.linalg.qr(y)[0])
    gram = summed(sweep("gram", q=q))  # (Qᵀ·X)(Qᵀ·X)ᵀ = U·S²·Uᵀ, with Qᵀ·X = U·S·Vᵀ
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    top = np.argsort(-eigenvalues, kind="stable")[:rank]
    singular = np.sqrt(np.maximum(eigenvalues[top], 0.0))
    scale = np.divide(eigenvectors[:, top], singular, out=np.zeros((len(gram), len(top))), where=singular > 0)
    components = np.empty((len(top), n_terms), dtype=np.float32)  # filled a block at a time: never a second copy
    for (first, last), part in zip(bounds, sweep("components", q=q, scale=scale.astype(np.float32)), strict=True):
        components[:, first:last] = part  # Vᵀ = S⁻¹·Uᵀ·Qᵀ·X
    for row in components:  # a fixed sign (as `svd_flip`): the largest entry positive, whatever the rounding
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    svd = TruncatedSVD(n_components=rank, algorithm="randomized", n_iter=n_iter, n_oversamples=oversamples,
                       random_state=seed)
    svd.components_ = components
    svd.singular_values_ = singular.astype(np.float32)
    svd.n_features_in_ = n_terms
    return svd

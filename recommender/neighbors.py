"""Exact top-K neighbours of every row, in row chunks: memory grows with the chunk, never N².

A scorer gives a dense block of scores (chunk × N) for rows start…stop-1, e.g. cosines from the sparse
product `X[i:j] @ X.T` of L2-normalised rows. The K best of each row are picked in one compiled pass
(`recommender.sparse_kernels`) and ordered by (-score, index), so ties always resolve to the lower
index and results are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs

from recommender.similarity import SimilaritySpace
from recommender.sparse_kernels import top_k_of_dense

DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024
# Working memory per dense cell: the float32 TF-IDF block, the float64 LSA product and its float32 copy.
_BYTES_PER_CELL = 4 + 8 + 4

ProgressCallback = Callable[[int, int], None]


class BlockScorer(Protocol):
    """Anything that scores rows start…stop-1 against all `n_rows` rows (see `recommender.similarity`)."""

    @property
    def n_rows(self) -> int: ...

    def block(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class NeighborTable:
    """Row i's neighbours: `indices[i]` (int32, -1 pads a short list) and `scores[i]` (float32), best first."""

    indices: np.ndarray
    scores: np.ndarray

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])


def chunk_rows_for(n_rows: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """How many query rows fit in the memory budget when each is compared with all `n_rows`."""
    return max(1, chunk_bytes // (max(n_rows, 1) * _BYTES_PER_CELL))


def top_k_neighbors(
    scorer: BlockScorer | sp.spmatrix,
    k: int,
    *,
    chunk_rows: int | None = None,
    n_jobs: int = 1,
    memory_budget_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: ProgressCallback | None = None,
) -> NeighborTable:
    """Each row's `k` best-scoring other rows with a positive score, exactly.

    A sparse matrix of L2-normalised rows stands for its cosine similarity. With `n_jobs` > 1 (or -1
    for all cores) row ranges run in joblib workers under the active joblib backend (threads locally,
    sharing the matrices; a Dask cluster inside `joblib.parallel_config(backend="dask")`), and the
    dense working blocks of all workers together stay within `memory_budget_bytes`.
    """
    if sp.issparse(scorer):
        scorer = SimilaritySpace(sp.csr_matrix(scorer))
    n = scorer.n_rows
    width = max(0, min(k, n - 1))
    indices = np.full((n, width), -1, dtype=np.int32)
    scores = np.zeros((n, width), dtype=np.float32)
    if width == 0:
        return NeighborTable(indices, scores)
    workers = max(1, min(effective_n_jobs(n_jobs), n))
    step = chunk_rows or chunk_rows_for(n, memory_budget_bytes // workers)
    if workers == 1:
        tasks = [(start, min(start + step, n)) for start in range(0, n, step)]
        results = (_top_k_rows(scorer, width, start, stop, step) for start, stop in tasks)
    else:  # threads: the compiled kernels and BLAS release the GIL, and threads share the matrices
        # (a Dask backend, when configured, ships each task's scorer to its workers instead)
        per_task = max(step, -(-n // (workers * 4)))
        tasks = [(start, min(start + per_task, n)) for start in range(0, n, per_task)]
        results = Parallel(n_jobs=workers, prefer="threads", return_as="generator")(
            delayed(_top_k_rows)(scorer, width, start, stop, step) for start, stop in tasks
        )
    done = 0
    for (start, stop), (idx, val) in zip(tasks, results, strict=True):
        indices[start:stop], scores[start:stop] = idx, val
        done += stop - start
        if progress is not None:
            progress(done, n)
    return NeighborTable(indices, scores)


def _top_k_rows(scorer: BlockScorer, k: int, start: int, stop: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of rows start…stop-1, computed `step` rows at a time."""
    indices = np.empty((stop - start, k), dtype=np.int32)
    scores = np.empty((stop - start, k), dtype=np.float32)
    for lo in range(start, stop, step):
        hi = min(lo + step, stop)
        block = scorer.block(lo, hi)
        block[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # never one's own neighbour
        indices[lo - start : hi - start], scores[lo - start : hi - start] = top_k_of_dense(block, k)
    return indices, scores


def top_k_rows(space: SimilaritySpace, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k lists of the given rows against every row (used to refresh a few lists)."""
    n = space.n_rows
    indices = np.full((len(rows), k), -1, dtype=np.int32)
    scores = np.zeros((len(rows), k), dtype=np.float32)
    step = chunk_rows_for(n)
    for lo in range(0, len(rows), step):
        part = rows[lo : lo + step]
        block = space.rows_against(part, None)
        block[np.arange(len(part)), part] = -np.inf
        indices[lo : lo + len(part)], scores[lo : lo + len(part)] = top_k_of_dense(block, k)
    return indices, scores


def top_k_of_candidates(candidates: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best (candidate id, score) pairs by (-score, id); non-positive scores become padding."""
    usable = (candidates >= 0) & (values > 0)
    keyed_values = np.where(usable, values, -np.inf)
    keyed_ids = np.where(usable, candidates, np.iinfo(np.int64).max)
    order = np.lexsort((keyed_ids, -keyed_values), axis=1)[:, :k]
    ids = np.take_along_axis(candidates, order, axis=1)
    vals = np.take_along_axis(keyed_values, order, axis=1)
    keep = np.isfinite(vals)
    width = order.shape[1]
    indices = np.full((len(candidates), k), -1, dtype=np.int32)
    scores = np.zeros((len(candidates), k), dtype=np.float32)
    indices[:, :width] = np.where(keep, ids, -1)
    scores[:, :width] = np.where(keep, vals, 0.0)
    return indices, scores

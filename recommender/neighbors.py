"""Exact top-K neighbours of every row: memory grows with the working blocks, never with N².

Each list is ordered by (-score, index), so ties always resolve to the lower index and results are
reproducible. Two paths:
- symmetric scores (a `SimilaritySpace`, or a sparse matrix of L2-normalised rows standing for its
  cosine): each pair is scored once. The upper triangle of the score matrix is cut into strips — a
  range of columns × every row above them — whose rows are shared out among the workers and scored
  a few at a time into a dense block against the strip's own postings (built once per strip; the
  whole corpus's are never built). Each cell (i, j), i < j, is offered to row i's list and to column
  j's list (j's candidates from earlier rows); the parent merges the tasks' lists as they arrive.
- any other `BlockScorer` (BM25 is not symmetric): chunks of rows scored against all rows.
The K best are picked by compiled one-pass scans (`recommender.sparse_kernels`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from threadpoolctl import threadpool_limits

from recommender.similarity import SimilaritySpace, StripColumns
from recommender.sparse_kernels import merge_top_k, scan_upper, top_k_of_dense

DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024
# Working memory per dense cell of the row-chunk path: the float32 block, the float64 LSA product and
# its float32 copy.
_BYTES_PER_CELL = 4 + 8 + 4
STRIP_CHUNK_ROWS = 32  # rows of a strip scored at once: the dense block stays in the shared cache
PILOT_COLUMNS = 2048  # the first strip's columns, scored before the rest (see `_with_pilot`)
_STRIPS_PER_WORKER = 2  # at least this many strips per worker (wider strips read every row less often)

ProgressCallback = Callable[[int, int], None]
# A task's result: (rows, indices, scores) lists to merge into the table's rows.
Lists = list[tuple[range, np.ndarray, np.ndarray]]


class BlockScorer(Protocol):
    """Anything that scores rows start…stop-1 against all `n_rows` rows (see `recommender.baselines`)."""

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


def empty_lists(n_rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """n_rows lists of k padding entries: index -1, score 0."""
    return np.full((n_rows, k), -1, dtype=np.int32), np.zeros((n_rows, k), dtype=np.float32)


def top_k_neighbors(
    scorer: BlockScorer | SimilaritySpace | sp.spmatrix,
    k: int,
    *,
    chunk_rows: int | None = None,
    n_jobs: int = 1,
    memory_budget_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: ProgressCallback | None = None,
) -> NeighborTable:
    """Each row's `k` best-scoring other rows with a positive score, exactly.

    `chunk_rows` is how many rows are scored into one dense block. With `n_jobs` > 1 (or -1 for all
    cores) the tasks run in joblib workers under the active joblib backend (threads locally, sharing
    the matrices — the compiled kernels and BLAS release the GIL; a Dask cluster inside
    `joblib.parallel_config(backend="dask")`), and the working memory of all workers together stays
    within `memory_budget_bytes`. `progress(done, n)` is told the share of the work done, in rows.
    """
    if sp.issparse(scorer):
        scorer = SimilaritySpace(sp.csr_matrix(scorer))
    n = scorer.n_rows
    width = max(0, min(k, n - 1))
    table = NeighborTable(*empty_lists(n, width))
    if width == 0:
        return table
    workers = max(1, min(effective_n_jobs(n_jobs), n))
    if isinstance(scorer, SimilaritySpace):
        step = chunk_rows or STRIP_CHUNK_ROWS
        parts = _strips(n, width, step, memory_budget_bytes // workers, workers, scorer.strip_column_bytes)
        shares = [(part, _row_shares(part, workers, step)) for part in _with_pilot(parts)]
        works = [_upper_cells(rows, part) for part, row_ranges in shares for rows in row_ranges]
        total, done = max(sum(works), 1), 0
        with threadpool_limits(1, user_api="blas"):  # small LSA products: BLAS threads would only contend
            for phase in (shares[:1], shares[1:]):  # the pilot strip's lists are merged before the rest start
                count = sum(len(row_ranges) for _, row_ranges in phase)
                calls = _strip_calls(scorer, width, phase, step, table.scores)
                _merge_results(table, calls, works[done : done + count], workers, progress, sum(works[:done]), total)
                done += count
    else:
        step = chunk_rows or chunk_rows_for(n, memory_budget_bytes // workers)
        per_task = step if workers == 1 else max(step, -(-n // (workers * 4)))
        starts = range(0, n, per_task)
        calls = (delayed(_top_k_rows)(scorer, width, start, min(start + per_task, n), step) for start in starts)
        works = [min(per_task, n - start) for start in starts]
        _merge_results(table, calls, works, workers, progress, 0, max(sum(works), 1))
    return table


def _merge_results(
    table: NeighborTable, calls: Iterator[tuple], works: list[int], workers: int, progress: ProgressCallback | None,
    done: int, total: int,
) -> None:
    """Run the joblib tasks — in this thread, or streamed from joblib workers — and merge their lists
    into the table as they arrive; `progress` is told the share of the `total` work done, in rows
    (`done` of it before these tasks)."""
    if workers == 1:
        results = (function(*args, **kwargs) for function, args, kwargs in calls)
    else:
        results = Parallel(n_jobs=workers, prefer="threads", return_as="generator")(calls)
    n = len(table.indices)
    for work, lists in zip(works, results, strict=True):
        for rows, idx, val in lists:
            merge_top_k(table.indices[rows.start : rows.stop], table.scores[rows.start : rows.stop], idx, val)
        done += work
        if progress is not None:
            progress(n * done // total, n)


def _strip_calls(
    space: SimilaritySpace, k: int, shares: list[tuple[range, list[range]]], step: int, scores: np.ndarray
) -> Iterator[tuple]:
    """The joblib tasks: each strip's columns prepared once (see `SimilaritySpace.strip_columns`)
    and shared by the tasks of its row shares, which run side by side and so read the same postings.

    Tasks are made as they are dispatched, each with copies of the k-th best scores the table holds
    then: lower bounds of the final ones (lists only improve), so most cells of later strips pass
    after two comparisons.
    """
    for part, row_ranges in shares:
        strip = space.strip_columns(part)
        for rows in row_ranges:
            yield delayed(_top_k_of_strip)(space, k, rows, strip, step, scores[rows.start : rows.stop, -1].copy(),
                                           scores[part.start : part.stop, -1].copy())


def _row_shares(part: range, workers: int, step: int) -> list[range]:
    """The rows above a strip's columns (0 … part.stop - 1) cut into `workers` ranges of about equal
    cells, at multiples of `step`."""
    cells = np.cumsum(np.clip(part.stop - np.maximum(part.start, np.arange(part.stop) + 1), 0, None))
    cuts = np.searchsorted(cells, cells[-1] * np.arange(1, workers) / workers) // step * step
    bounds = sorted({0, part.stop, *(int(c) for c in cuts)})
    return [range(lo, hi) for lo, hi in pairwise(bounds)]


def _strips(n: int, k: int, step: int, worker_bytes: int, workers: int, column_bytes: int) -> list[range]:
    """The column ranges of the strips, right to left: the largest first, so the workers end together.

    A strip keeps a k-list per column (8 bytes an entry), `column_bytes` per column (its postings
    and LSA rows) and a step-row float32 block, so it is cut to fit `worker_bytes`, and to at
    least `_STRIPS_PER_WORKER` per worker: with the default budget and 2 workers, 9k columns at 100k
    articles (the budget binds), 4.9k on 20 Newsgroups.
    """
    balanced = -(-n // (_STRIPS_PER_WORKER * workers))
    width = max(step, min(balanced, worker_bytes // (step * 4 + k * 8 + column_bytes)))
    return [range(start, min(start + width, n)) for start in reversed(range(0, n, width))]


def _with_pilot(parts: list[range]) -> list[range]:
    """The strips, the first (rightmost) one cut to at most `PILOT_COLUMNS` columns: a pilot strip.

    The tasks of the first strips start with no bound on the k-th best scores (the table is empty),
    so their scans insert into the lists at nearly every cell (4× the cost of a scan with bounds on
    30k synthetic articles). Every row lies above the rightmost columns, so the pilot strip, merged
    before any other task is made, gives each row real scores — its k-th best there is a lower bound
    of its final k-th best — at a small share of the cells. A first strip of at most twice that
    width (the remainder of the cut, often) is the pilot itself.
    """
    first = parts[0]
    if len(first) <= 2 * PILOT_COLUMNS:
        return parts
    return [range(first.stop - PILOT_COLUMNS, first.stop), range(first.start, first.stop - PILOT_COLUMNS), *parts[1:]]


def _upper_cells(rows: range, columns: range) -> int:
    """How many cells (i, j) with i < j a strip has."""
    first = np.maximum(columns.start, np.arange(rows.start, rows.stop) + 1)
    return int(np.clip(columns.stop - first, 0, None).sum())


def _top_k_of_strip(
    space: SimilaritySpace, k: int, rows: range, strip: StripColumns, step: int, row_kth: np.ndarray,
    col_kth: np.ndarray
) -> Lists:
    """The k-lists of the rows over a strip's columns and of its columns over the rows (cells i < j);
    `row_kth` and `col_kth` are lower bounds of the final k-th best scores (see `scan_upper`)."""
    part = strip.columns
    lists: Lists = []
    col_idx, col_val = empty_lists(len(part), k)
    for lo, first, block in space.upper_blocks(rows, strip, step):
        chunk, off = range(lo, lo + len(block)), first - part.start
        row_idx, row_val = empty_lists(len(chunk), k)
        scan_upper(block, lo, first, row_idx, row_val, row_kth[lo - rows.start : chunk.stop - rows.start],
                   col_idx[off:], col_val[off:], col_kth[off:])
        filled = int((row_idx >= 0).sum(axis=1).max())  # few beat the rows' bounds: keep only those
        lists.append((chunk, row_idx[:, :filled].copy(), row_val[:, :filled].copy()))
    lists.append((part, col_idx, col_val))
    return lists


def _top_k_rows(scorer: BlockScorer, k: int, start: int, stop: int, step: int) -> Lists:
    """Top-k of rows start…stop-1 against all rows, computed `step` rows at a time."""
    indices, scores = empty_lists(stop - start, k)
    for lo in range(start, stop, step):
        hi = min(lo + step, stop)
        block = scorer.block(lo, hi)
        block[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # never one's own neighbour
        indices[lo - start : hi - start], scores[lo - start : hi - start] = top_k_of_dense(block, k)
    return [(range(start, stop), indices, scores)]


def top_k_rows(
    space: SimilaritySpace, k: int, rows: np.ndarray, on_block: Callable[[np.ndarray, np.ndarray], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k lists of the given rows against every row (used to refresh a few lists).

    `on_block(part, block)`, when given, sees each block of scores of rows `part` against all rows
    before the lists are picked from it (an update offers them to the other rows' lists).
    """
    n = space.n_rows
    indices, scores = empty_lists(len(rows), k)
    step = chunk_rows_for(n)
    for lo in range(0, len(rows), step):
        part = rows[lo : lo + step]
        block = space.rows_against(part, None)
        if on_block is not None:
            on_block(part, block)
        block[np.arange(len(part)), part] = -np.inf
        indices[lo : lo + len(part)], scores[lo : lo + len(part)] = top_k_of_dense(block, k)
    return indices, scores

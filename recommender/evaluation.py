"""Relevance metrics of related lists against topic labels: precision, nDCG, coverage, hubness, duplicates.

A candidate is relevant to a query when the two share at least one label. Lists are index arrays
(queries × k, -1 pads a short list), so every ranker is measured the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

NEAR_DUPLICATE_COSINE = 0.9


@dataclass(frozen=True)
class RankerMetrics:
    """The figures `relatedly evaluate` reports for one ranker."""

    precision_at_k: float
    ndcg_at_k: float
    coverage: float
    catalogue_coverage: float
    catalogue_coverage_distinct: float  # near-duplicate copies counted as one story
    hub_max: int
    hub_p99: float
    near_duplicate_rate: float
    precision_curve: list[float]  # precision@1 … precision@len

    def as_dict(self) -> dict[str, object]:
        return {
            "precision_at_k": round(self.precision_at_k, 4),
            "ndcg_at_k": round(self.ndcg_at_k, 4),
            "coverage": round(self.coverage, 4),
            "catalogue_coverage": round(self.catalogue_coverage, 4),
            "catalogue_coverage_distinct": round(self.catalogue_coverage_distinct, 4),
            "hub_max": self.hub_max,
            "hub_p99": round(self.hub_p99, 1),
            "near_duplicate_rate": round(self.near_duplicate_rate, 4),
            "precision_curve": [round(p, 4) for p in self.precision_curve],
        }


def label_matrix(labels: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """Articles × labels, binary."""
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for i, article_labels in enumerate(labels):
        for label in set(article_labels):
            rows.append(i)
            cols.append(vocabulary.setdefault(label, len(vocabulary)))
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(labels), max(len(vocabulary), 1)))


def relevant_counts(labels: sp.csr_matrix, queries: np.ndarray, chunk_rows: int = 1024) -> np.ndarray:
    """For each query, how many other articles share a label with it (the ideal list's size)."""
    counts = np.zeros(len(queries), dtype=np.int64)
    transposed = labels.T.tocsr()
    for start in range(0, len(queries), chunk_rows):
        block = labels[queries[start : start + chunk_rows]] @ transposed
        counts[start : start + chunk_rows] = np.diff((block > 0).tocsr().indptr) - 1
    return np.maximum(counts, 0)


def relevance(labels: sp.csr_matrix, queries: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """queries × k booleans: does the list item share a label with the query?"""
    safe = np.where(lists >= 0, lists, 0)
    shared = np.asarray(
        labels[np.repeat(queries, lists.shape[1])].multiply(labels[safe.ravel()]).sum(axis=1)
    ).ravel()
    return (shared.reshape(lists.shape) > 0) & (lists >= 0)


def evaluate_lists(
    lists: np.ndarray,
    scores: np.ndarray | None,
    queries: np.ndarray,
    labels: sp.csr_matrix,
    vectors: sp.csr_matrix,
    *,
    k: int,
    min_score: float = 0.0,
    story_groups: np.ndarray | None = None,
) -> RankerMetrics:
    """All metrics for one ranker's lists (`lists[i]` answers `queries[i]`, best first; short lists padded).

    `story_groups` gives each article the id of its near-duplicate group (see `duplicate_groups`).
    """
    n = labels.shape[0]
    if lists.shape[1] < k:  # a corpus of n ≤ k articles has at most n - 1 related stories per query
        missing = k - lists.shape[1]
        lists = np.pad(lists, ((0, 0), (0, missing)), constant_values=-1)
        scores = None if scores is None else np.pad(scores, ((0, 0), (0, missing)))
    rel = relevance(labels, queries, lists)
    curve = (np.cumsum(rel, axis=1) / np.arange(1, lists.shape[1] + 1)).mean(axis=0)
    top = lists[:, :k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (rel[:, :k] * discounts).sum(axis=1)
    ideal_len = np.minimum(relevant_counts(labels, queries), k)
    idcg = np.cumsum(discounts)[np.maximum(ideal_len - 1, 0)] * (ideal_len > 0)
    ndcg = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
    present = top >= 0
    above = present if scores is None else present & (scores[:, :k] > min_score)
    in_degree = np.bincount(top[present], minlength=n)
    return RankerMetrics(
        precision_at_k=float(rel[:, :k].sum(axis=1).mean() / k),
        ndcg_at_k=float(ndcg[ideal_len > 0].mean()) if (ideal_len > 0).any() else 0.0,
        coverage=float((above.sum(axis=1) >= k).mean()),
        catalogue_coverage=float((in_degree > 0).mean()),
        catalogue_coverage_distinct=_distinct_coverage(in_degree > 0, story_groups),
        hub_max=int(in_degree.max(initial=0)),
        hub_p99=float(np.percentile(in_degree, 99)),
        near_duplicate_rate=near_duplicate_rate(top, vectors),
        precision_curve=[float(p) for p in curve],
    )


def near_duplicate_rate(lists: np.ndarray, vectors: sp.csr_matrix, threshold: float = NEAR_DUPLICATE_COSINE) -> float:
    """Share of lists holding two items whose cosine (in `vectors`, L2-normalised rows) is ≥ threshold."""
    if len(lists) == 0:
        return 0.0
    flagged = 0
    for row in lists:
        items = row[row >= 0]
        if len(items) < 2:
            continue
        sims = (vectors[items] @ vectors[items].T).toarray()
        np.fill_diagonal(sims, 0.0)
        flagged += bool((sims >= threshold).any())
    return flagged / len(lists)


def duplicate_groups(indices: np.ndarray, scores: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE) -> np.ndarray:
    """Group id per article: articles linked by a neighbour score ≥ threshold are one story."""
    n = indices.shape[0]
    rows, cols = np.nonzero((scores >= threshold) & (indices >= 0))
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, indices[rows, cols])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _distinct_coverage(covered: np.ndarray, groups: np.ndarray | None) -> float:
    if groups is None:
        return float(covered.mean())
    return float(np.bincount(groups, weights=covered).astype(bool).sum() / (groups.max() + 1))

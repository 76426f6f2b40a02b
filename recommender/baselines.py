"""Reference rankers for `relatedly evaluate`: what the product must beat, measured in the same run.

- `random`: any other article;
- `recent`: the newest articles (what many sites show today);
- `tfidf-plain`: scikit-learn's `TfidfVectorizer()` defaults over title + body, cosine;
- `bm25`: Okapi BM25 (k1 = 1.2, b = 0.75) with each whole article as the query.
All return index lists (queries × k, -1 pads) like the model's, so one metric code scores them all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from recommender.corpus import Article
from recommender.neighbors import NeighborTable, ProgressCallback, top_k_neighbors


def random_lists(n: int, queries: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k distinct random other articles per query."""
    rng = np.random.default_rng(seed)
    lists = np.empty((len(queries), min(k, n - 1)), dtype=np.int64)
    for row, q in enumerate(queries):
        picks = rng.choice(n - 1, size=lists.shape[1], replace=False)
        lists[row] = picks + (picks >= q)  # skip the query itself
    return lists


def recent_lists(articles: Sequence[Article], queries: np.ndarray, k: int) -> np.ndarray:
    """The newest articles (undated last, then by index), the query itself left out."""
    stamps = np.array([a.published_at.timestamp() if a.published_at else -np.inf for a in articles])
    newest = np.lexsort((np.arange(len(articles)), -stamps))[: k + 1]
    return np.array([[i for i in newest if i != q][:k] for q in queries], dtype=np.int64)


def tfidf_plain_neighbors(
    articles: Sequence[Article], k: int, progress: ProgressCallback | None = None
) -> NeighborTable:
    matrix = TfidfVectorizer().fit_transform(f"{a.title} {a.body}" for a in articles)
    return top_k_neighbors(matrix.astype(np.float32), k, progress=progress)


class Bm25Scorer:
    """Okapi BM25 scores of every article (as a bag-of-words query) against every article."""

    def __init__(self, articles: Sequence[Article], k1: float = 1.2, b: float = 0.75) -> None:
        counts = CountVectorizer().fit_transform(f"{a.title} {a.body}" for a in articles).tocsr().astype(np.float32)
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        norm = k1 * (1 - b + b * lengths / max(lengths.mean(), 1e-9))
        weights = counts.copy()
        row_norm = np.repeat(norm, np.diff(weights.indptr))
        weights.data = idf[weights.indices] * weights.data * (k1 + 1) / (weights.data + row_norm)
        self._queries = counts
        self._docs_t = sp.csr_matrix(weights.T)

    @property
    def n_rows(self) -> int:
        return int(self._queries.shape[0])

    def block(self, start: int, stop: int) -> np.ndarray:
        return (self._queries[start:stop] @ self._docs_t).toarray()


def bm25_neighbors(articles: Sequence[Article], k: int, progress: ProgressCallback | None = None) -> NeighborTable:
    return top_k_neighbors(Bm25Scorer(articles), k, progress=progress)

"""Every article's related list under the default ranking options, computed once per model version.

The page renderer asks for exactly this list on every article view, for any article of the archive,
and every publish changes the model version (which empties a response cache at once). Computed when
a version is saved and stored beside it (see `recommender.artifacts`), the lists let the service
answer that request for any article by reading one row: no cache, no ranking work, nothing to warm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.model import RelatedModel
from recommender.ranking import Ranked, RankingOptions

DEFAULT_LIST_LIMIT = RankingOptions().limit


@dataclass(frozen=True)
class DefaultLists:
    """Row i: article i's list under `RankingOptions(limit=limit)`, best first, padded with index -1."""

    indices: np.ndarray  # int32, n_articles × limit
    scores: np.ndarray  # float32, n_articles × limit: the final scores `rank` returned

    @property
    def limit(self) -> int:
        return int(self.indices.shape[1])

    def ranked(self, idx: int) -> Ranked:
        """Row `idx` as `rank` returned it (the similarity is the score: the defaults boost nothing)."""
        row = self.indices[idx]
        count = int(np.count_nonzero(row >= 0))
        scores = self.scores[idx, :count]
        return Ranked(row[:count], scores, scores)

    def rows_listing(self, listed: np.ndarray) -> np.ndarray:
        """Rows whose default list holds any of the `listed` row indices (whose lists a block or takedown
        of those stories makes stale)."""
        return np.flatnonzero(np.isin(self.indices, listed).any(axis=1))

    def check(self, n_articles: int) -> None:
        """ValueError unless the arrays fit a model of `n_articles` articles."""
        if self.indices.shape != self.scores.shape or self.indices.ndim != 2 or self.indices.shape[0] != n_articles:
            raise ValueError(f"default lists of shape {self.indices.shape} do not fit {n_articles} articles")
        if self.indices.size and not (int(self.indices.min()) >= -1 and int(self.indices.max()) < n_articles):
            raise ValueError("default lists point outside the model's articles")


def default_options(limit: int) -> RankingOptions:
    """The options of a request that gives none, for a list of `limit` stories."""
    return RankingOptions(limit=limit)


def compute_default_lists(model: RelatedModel, limit: int = DEFAULT_LIST_LIMIT) -> DefaultLists:
    """Rank every article's list with the default options (the same `ranked` a request would run)."""
    limit = min(limit, model.top_k)
    options = default_options(limit)
    indices = np.full((model.n_articles, limit), -1, dtype=np.int32)
    scores = np.zeros((model.n_articles, limit), dtype=np.float32)
    for idx in range(model.n_articles):
        ranked = model.ranked(idx, options)
        indices[idx, : len(ranked.indices)] = ranked.indices
        scores[idx, : len(ranked.scores)] = ranked.scores
    return DefaultLists(indices, scores)

"""Every article's related list under the default ranking options, computed once per model version.

The page renderer asks for exactly this list on every article view, for any article of the archive,
and every publish changes the model version (which empties a response cache at once). Computed when
a version is saved and stored beside it (see `recommender.artifacts`), the lists let the service
answer that request for any article by reading one row: no cache, no ranking work, nothing to warm.

`ArticleLists` is what the service sees of them: lists keyed by article id, which it renders into
responses when it loads a version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from recommender.model import RelatedModel
from recommender.ranking import Ranked, RankingOptions, candidate_pool

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
    """Every article's list under the default options, as `model.ranked` gives it.

    A compiled greedy pick over the neighbour lists does what `recommender.ranking.rank` does with
    the defaults (the same filters, pool, order and near-copy check, in float32 as numpy compares);
    the rows it cannot settle alone — a near-copy check involving a crowded list, or a list short
    enough to need a whole-corpus scan — are ranked by `model.ranked` itself. At 100k articles the
    per-row Python ranking took 6.2 s of a 15.9 s publish; compiled, 0.03 s.
    """
    limit = min(limit, model.top_k)
    options = default_options(limit)
    indices = np.full((model.n_articles, limit), -1, dtype=np.int32)
    scores = np.zeros((model.n_articles, limit), dtype=np.float32)
    threshold = np.inf if options.duplicate_threshold is None else options.duplicate_threshold
    unsettled = np.zeros(model.n_articles, dtype=bool)
    neighbours = model.neighbors_
    _pick_default_lists(
        neighbours.indices, neighbours.scores, model.catalog_.facts.language_codes, np.float32(options.score_floor),
        np.float32(threshold), candidate_pool(limit), model.lists_truncated,
        indices, scores, unsettled,
    )
    for idx in np.flatnonzero(unsettled).tolist():
        ranked = model.ranked(idx, options)
        indices[idx, : len(ranked.indices)] = ranked.indices
        scores[idx, : len(ranked.scores)] = ranked.scores
    return DefaultLists(indices, scores)


@njit(cache=True, nogil=True)
def _pick_default_lists(
    nbr_idx, nbr_val, languages, min_score, threshold, pool, can_scan, out_idx, out_val, unsettled
):  # pragma: no cover - compiled
    """For each row: its neighbours that pass the similarity filters and are in its language (both
    known and different: left out, as `lang="same"` does), the first `pool` of them in list order,
    picked best first unless a near-copy (similarity ≥ threshold, read from either list) of an
    earlier pick, until the list is full. Marks `unsettled` what needs `rank` itself."""
    k = nbr_idx.shape[1]
    limit = out_idx.shape[1]
    if k == 0:
        return
    picked = np.empty(limit, dtype=np.int64)
    picked_scores = np.empty(limit, dtype=np.float32)
    for i in range(nbr_idx.shape[0]):
        count = 0
        seen = 0
        settled = True
        for pos in range(k):
            c = nbr_idx[i, pos]
            s = nbr_val[i, pos]
            if c < 0 or not (s >= min_score and s < threshold):  # a list never holds its own row
                continue
            if languages[i] >= 0 and languages[c] >= 0 and languages[c] != languages[i]:
                continue
            if seen == pool:
                break
            seen += 1
            copy = False
            for q in range(count):
                p = picked[q]
                if nbr_val[c, k - 1] >= threshold or nbr_val[p, k - 1] >= threshold:
                    settled = False  # a crowded list: the pair's similarity must be computed
                    break
                if _lists_close(nbr_idx, nbr_val, c, p, threshold) or _lists_close(nbr_idx, nbr_val, p, c, threshold):
                    copy = True
                    break
            if not settled:
                break
            if not copy:
                picked[count] = c
                picked_scores[count] = s
                count += 1
                if count == limit:
                    break
        if not settled or (count < limit and can_scan and nbr_idx[i, k - 1] >= 0):
            unsettled[i] = True
            continue
        out_idx[i, :count] = picked[:count]
        out_val[i, :count] = picked_scores[:count]


@njit(cache=True, nogil=True)
def _lists_close(nbr_idx, nbr_val, a, b, threshold):  # pragma: no cover - compiled
    """Whether row b is on row a's list with a score ≥ threshold (lists are best first)."""
    for pos in range(nbr_idx.shape[1]):
        if nbr_val[a, pos] < threshold:
            return False
        if nbr_idx[a, pos] == b:
            return True
    return False


class CodedLists(NamedTuple):
    """Every article's list with its ids as a caller's integer codes (see `ArticleLists.coded`)."""

    articles: np.ndarray  # n_articles: each article's code, -1 when the codes lack it
    stories: np.ndarray  # n_articles × limit: each listed story's code, -1 when the codes lack it, or padding
    lengths: np.ndarray  # n_articles: how many stories each list holds (the rest of its row is padding)
    scores: np.ndarray  # n_articles × limit, float32: the stories' scores, as `all_lists` gives them


@dataclass(frozen=True)
class ArticleLists:
    """The serving interface to a model's default lists, keyed by article id (row indices stay inside).

    The service renders and replaces responses from this; it never sees the model's rows.
    """

    model: RelatedModel
    lists: DefaultLists

    @property
    def limit(self) -> int:
        return self.lists.limit

    def article_ids(self) -> list[str]:
        """Every article's id, in the model's order."""
        return self.model.catalog_.to_columns()["ids"]

    def default_list(self, article_id: str) -> tuple[list[str], list[float]]:
        """An article's default list: story ids and their scores, best first (`UnknownArticleError`)."""
        return self._row(self.model.catalog_.index_of(article_id))

    def all_lists(self) -> Iterator[tuple[str, list[str], list[float]]]:
        """`(article_id, story ids, scores)` for every article, in the model's order."""
        ids = self.article_ids()
        for article_id, row, scores in zip(ids, self.lists.indices.tolist(), self.lists.scores.tolist(), strict=True):
            listed = [ids[j] for j in row if j >= 0]
            yield article_id, listed, scores[: len(listed)]

    def coded(self, codes: Mapping[str, int]) -> CodedLists:
        """Every article's list (in the model's order) with the ids replaced by `codes`, so that lists can be
        joined with data keyed by ids as arrays, without a Python object per listed story."""
        code_of_row = np.fromiter((codes.get(a, -1) for a in self.article_ids()), np.int64, len(self.lists.indices))
        rows = self.lists.indices
        listed = rows >= 0
        return CodedLists(code_of_row, np.where(listed, code_of_row[rows], -1), listed.sum(axis=1), self.lists.scores)

    def articles_listing(self, story_ids: Iterable[str]) -> list[str]:
        """The articles whose default list holds any of `story_ids` (unknown ids are ignored)."""
        catalog = self.model.catalog_
        rows = self.lists.rows_listing(catalog.indices_of_known(sorted(set(story_ids))))
        return [catalog.id_at(int(row)) for row in rows]

    def _row(self, idx: int) -> tuple[list[str], list[float]]:
        row = self.lists.indices[idx]
        count = int(np.count_nonzero(row >= 0))
        catalog = self.model.catalog_
        return [catalog.id_at(int(j)) for j in row[:count]], self.lists.scores[idx, :count].tolist()


def article_lists(model: RelatedModel, stored: DefaultLists | None, limit: int = DEFAULT_LIST_LIMIT) -> ArticleLists:
    """The default lists for `limit` stories: the stored ones when they were made for it, else computed now."""
    limit = min(limit, model.top_k)
    lists = stored if stored is not None and stored.limit == limit else compute_default_lists(model, limit)
    return ArticleLists(model, lists)

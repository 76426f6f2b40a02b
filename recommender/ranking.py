"""Request-time rules over a candidate list: exclusions, thresholds, freshness, category, dedup, diversity.

Order of the rules, each cheap on the ≤ K precomputed candidates:
1. drop the query itself, excluded ids, candidates below `min_score` (raw similarity: relevance is
   judged before any freshness boost), older than `max_age_days`, of another category (`same`) or of
   an excluded one (`exclude_categories`), or in another language than the query's (unless
   `lang="any"`; a story or query of unknown language passes);
2. score = similarity × 0.5^(age / half_life) × category boost (`prefer`);
3. pick greedily, best score first (or by MMR when `diversity` > 0), skipping near-copies of the
   query or of a story already picked.
Ages are measured against the query article's date, so an archive page gets stories of its time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

DEFAULT_MIN_SCORE = 0.1
DEFAULT_DUPLICATE_THRESHOLD = 0.9
PREFER_CATEGORY_BOOST = 1.25
CategoryRule = Literal["any", "prefer", "same"]
LanguageRule = Literal["same", "any"]


@dataclass(frozen=True)
class RankingOptions:
    """What a caller may ask of a related list; every field has a sensible default."""

    limit: int = 10
    exclude: frozenset[str] = frozenset()
    min_score: float = DEFAULT_MIN_SCORE
    duplicate_threshold: float | None = DEFAULT_DUPLICATE_THRESHOLD
    max_age_days: float | None = None
    half_life_days: float | None = None
    diversity: float = 0.0
    category: CategoryRule = "any"
    lang: LanguageRule = "same"  # "same": never a story in another language than the query's (when known)
    exclude_categories: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        problems = []
        if self.limit < 1:
            problems.append("limit must be at least 1")
        if not 0.0 <= self.min_score <= 1.0:
            problems.append("min_score must be between 0 and 1")
        if self.duplicate_threshold is not None and not 0.0 < self.duplicate_threshold <= 1.0:
            problems.append("duplicate_threshold must be in (0, 1]")
        if self.max_age_days is not None and self.max_age_days <= 0:
            problems.append("max_age_days must be positive")
        if self.half_life_days is not None and self.half_life_days <= 0:
            problems.append("half_life_days must be positive")
        if not 0.0 <= self.diversity <= 1.0:
            problems.append("diversity must be between 0 and 1")
        if self.category not in ("any", "prefer", "same"):
            problems.append("category must be any, prefer or same")
        if self.lang not in ("same", "any"):
            problems.append("lang must be same or any")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def score_floor(self) -> float:
        """The lowest similarity a candidate may have: `min_score`, and never zero (unrelated)."""
        return max(self.min_score, 1e-9)


@dataclass(frozen=True)
class Query:
    """What the rules need to know of the query: its row (None for free text), date, category and language."""

    idx: int | None
    published_days: float  # days since the epoch; NaN when unknown
    category_code: int  # -1 when unknown
    language_code: int = -1  # -1 when unknown (no filter); -2: a language no article is in


@dataclass(frozen=True)
class CorpusFacts:
    """Per-article columns the rules read: publication day, category and language code."""

    published_days: np.ndarray  # float64, NaN when unknown
    category_codes: np.ndarray  # int32, -1 when unknown
    language_codes: np.ndarray  # int32, -1 when unknown


@dataclass(frozen=True)
class Ranked:
    """A chosen list: row indices, final scores, raw similarities."""

    indices: np.ndarray
    scores: np.ndarray
    similarities: np.ndarray


def rank(
    query: Query,
    candidates: np.ndarray,
    similarities: np.ndarray,
    options: RankingOptions,
    facts: CorpusFacts,
    *,
    excluded: np.ndarray,
    pairwise: Callable[[np.ndarray], np.ndarray],
    near_duplicates: Callable[[np.ndarray, float], np.ndarray] | None = None,
    excluded_categories: np.ndarray | None = None,
) -> Ranked:
    """Apply the rules to candidates (row indices with their similarity to the query).

    `excluded` are row indices never to pick, `excluded_categories` category codes (those of
    `options.exclude_categories` the corpus has).
    `pairwise(rows)` gives the rows' similarity matrix (for diversity); `near_duplicates(rows, t)`, when
    given, a cheaper boolean matrix of pairs with similarity ≥ t (for de-duplication alone).
    """
    # The similarity rules first, on the arrays as given; the other rules only see what passed
    # (on 20 Newsgroups a text query's whole-corpus scan keeps about half).
    keep = similarities >= options.score_floor
    if options.duplicate_threshold is not None:
        keep &= similarities < options.duplicate_threshold  # a near-copy of the query itself
    cand, sims = candidates[keep], similarities[keep]
    keep = cand >= 0
    if query.idx is not None:
        keep &= cand != query.idx
    if len(excluded):
        keep &= ~np.isin(cand, excluded)
    safe = np.maximum(cand, 0)
    age_days = query.published_days - facts.published_days[safe]
    if options.max_age_days is not None:
        keep &= ~(np.abs(age_days) > options.max_age_days)  # unknown dates pass
    if options.category == "same":
        keep &= (facts.category_codes[safe] == query.category_code) & (query.category_code >= 0)
    if options.lang == "same" and query.language_code != -1:  # stories of unknown language pass
        codes = facts.language_codes[safe]
        keep &= (codes == query.language_code) | (codes < 0)
    if excluded_categories is not None and len(excluded_categories):
        keep &= ~np.isin(facts.category_codes[safe], excluded_categories)
    cand, sims, ages = cand[keep], sims[keep], age_days[keep]

    scores = sims.astype(np.float64)
    if options.half_life_days is not None:
        scores = scores * np.where(np.isnan(ages), 1.0, 0.5 ** (np.maximum(ages, 0.0) / options.half_life_days))
    if options.category == "prefer" and query.category_code >= 0:
        scores = scores * np.where(facts.category_codes[cand] == query.category_code, PREFER_CATEGORY_BOOST, 1.0)
        scores = np.minimum(scores, 1.0)
    duplicates = near_duplicates or (lambda rows, threshold: pairwise(rows) >= threshold)
    chosen = _select(cand, scores, options, pairwise, duplicates)
    return Ranked(cand[chosen], scores[chosen].astype(np.float32), sims[chosen].astype(np.float32))


def _select(
    candidates: np.ndarray,
    scores: np.ndarray,
    options: RankingOptions,
    pairwise: Callable[[np.ndarray], np.ndarray],
    near_duplicates: Callable[[np.ndarray, float], np.ndarray],
) -> np.ndarray:
    """Positions of the picked candidates, in list order."""
    threshold = options.duplicate_threshold
    if (threshold is None and options.diversity == 0) or len(candidates) == 0:
        return _best_first(candidates, scores, options.limit)
    pool = _best_first(candidates, scores, candidate_pool(options.limit))
    if options.diversity > 0:
        sims = pairwise(candidates[pool])
        copies = sims >= threshold if threshold is not None else None
    else:
        copies = near_duplicates(candidates[pool], threshold)
    # As Python bools: checking a pick against the ten before it costs less than a numpy call per pick.
    copy_rows = copies.tolist() if copies is not None else None
    picked: list[int] = []
    remaining = list(range(len(pool)))
    lam = 1.0 - options.diversity
    while remaining and len(picked) < options.limit:
        if options.diversity > 0 and picked:
            redundancy = sims[np.ix_(remaining, picked)].max(axis=1)
            value = lam * scores[pool[remaining]] - (1.0 - lam) * redundancy
            best = remaining[int(np.argmax(value))]
        else:
            best = remaining[0]
        remaining.remove(best)
        if copy_rows is not None and any(copy_rows[best][p] for p in picked):
            continue
        picked.append(best)
    return pool[picked]


def candidate_pool(limit: int) -> int:
    """How many of the best candidates de-duplication and diversity look at: enough to fill and
    diversify a list of `limit`."""
    return max(limit * 4, 50)


def _best_first(candidates: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` best candidates by (-score, candidate).

    A whole-corpus scan has thousands of candidates for a list of ten: a linear-time partition keeps
    those scoring at least the count-th best (ties included, so the result is exact), and only they
    are sorted.
    """
    if len(scores) > 4 * count:
        kth_best = np.partition(scores, len(scores) - count)[len(scores) - count]
        head = np.flatnonzero(scores >= kth_best)
        return head[np.lexsort((candidates[head], -scores[head]))][:count]
    return np.lexsort((candidates, -scores))[:count]

"""Reader evidence: what clicks say about each (article, story) pair once the position's share is taken out.

Readers click the top of a list more whatever is shown there, so a story's raw click-through rate
measures its slot as much as the story. The position-based click model (PBM; Chuklin, Markov and de
Rijke, *Click Models for Web Search*, 2015, §3.4 and §4.2) says a click needs the slot to be examined
(probability θ_k, by position only) and the story to attract (α_p, by pair only): P(click) = θ_k · α_p.
`examination_curve` fits that model to the counts by maximum likelihood, as Wang et al. (*Position Bias
Estimation for Unbiased Learning to Rank in Personal Search*, WSDM 2018, §3) fit it by EM: the curve is
identified because the same pair is seen at several positions (lists that learn move stories, updates
and exploration move them too).

`pair_evidence` then scores each pair by its clicks against the clicks expected of an average story of
its article in the slots where it was shown (COEC, clicks over expected clicks), with a Gamma(s, s)
prior on that ratio: the posterior is Gamma(s + clicks, s + expected), so a pair with few impressions
stays near 1 (no evidence) and only counts that add up move it. The evidence (`lift`) is the posterior
mean once a pair has `min_impressions` impressions, and before that the near end of its interval (1 while
the interval holds 1). `learned_orders` re-ranks each article's candidate pool by model score × that
evidence (clipped, with a bounded weight), and never lets a story with fewer than `min_impressions` rise
more than `max_unproven_rise` places.

Plain data in, plain data out: counts keyed by article and story id, orders as positions in the pool.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy.special import gammaincinv
from sklearn.isotonic import isotonic_regression

MAX_POSITIONS = 50  # the longest list the events endpoint accepts
_ALPHA_PRIOR = 1.0  # expected clicks' worth of prior on a pair's attractiveness while fitting the curve


@dataclass(frozen=True)
class LearningOptions:
    """How strongly reader evidence may reorder a list; defaults chosen on the simulated readership
    (benchmarks/learning_bench.py)."""

    weight: float = 1.0  # exponent on the evidence ratio: 0 = model order, 1 = full evidence
    max_lift: float = 8.0  # the ratio is clipped to [1/max_lift, max_lift] before the weight
    prior_strength: float = 5.0  # s of the Gamma(s, s) prior: pseudo expected clicks at ratio 1
    confidence: float = 0.9  # an unproven pair's interval, whose near end counts (1 inside it: no evidence)
    min_impressions: int = 20  # below this a story is unproven ...
    max_unproven_rise: int = 2  # ... and may rise at most this many places
    fit_iterations: int = 20

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.weight <= 1.0:
            problems.append("weight must be between 0 and 1")
        if self.max_lift < 1.0:
            problems.append("max_lift must be at least 1")
        if self.prior_strength <= 0:
            problems.append("prior_strength must be positive")
        if not 0.0 < self.confidence < 1.0:
            problems.append("confidence must be between 0 and 1")
        if self.min_impressions < 0 or self.max_unproven_rise < 0 or self.fit_iterations < 1:
            problems.append("min_impressions and max_unproven_rise must be >= 0, fit_iterations >= 1")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class ClickTable:
    """Impressions and clicks by (article, story, position): one row per triple seen, pairs numbered.

    Ids are held once (`ids`) and pairs as two arrays of codes into them, so a million pairs cost a few
    arrays of integers, not a million tuples of strings.
    """

    ids: list[str] = field(default_factory=list)  # every article and story id seen; the codes index it
    article: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))  # pair number → article's code
    story: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))  # pair number → story's code
    pair: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    position: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # 1-based
    impressions: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    clicks: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, int, int, int]]) -> ClickTable:
        """From `(article_id, story_id, position, impressions, clicks)` rows (a triple may repeat: summed).

        Positions outside 1…`MAX_POSITIONS` and rows without impressions or clicks are dropped; clicks
        beyond impressions (a click whose impression was lost) count as impressions too. Pairs are
        numbered in the order they first appear.
        """
        codes: dict[str, int] = {}
        article, story, position, shown, clicked = (array("q") for _ in range(5))
        for article_id, story_id, pos, n, c in rows:
            if not 1 <= pos <= MAX_POSITIONS or (n <= 0 and c <= 0):
                continue
            article.append(codes.setdefault(article_id, len(codes)))
            story.append(codes.setdefault(story_id, len(codes)))
            position.append(pos)
            shown.append(n)
            clicked.append(c)
        keys = np.frombuffer(article, np.int64) * max(len(codes), 1) + np.frombuffer(story, np.int64)
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        number = np.empty(len(unique), np.int64)
        number[np.argsort(first, kind="stable")] = np.arange(len(unique))  # by first appearance
        order = np.sort(first)
        table = cls(list(codes), np.frombuffer(article, np.int64)[order].astype(np.int32),
                    np.frombuffer(story, np.int64)[order].astype(np.int32), number[inverse],
                    np.frombuffer(position, np.int64).copy(), np.frombuffer(shown, np.int64).astype(np.float64),
                    np.frombuffer(clicked, np.int64).astype(np.float64))
        table.impressions = np.maximum(table.impressions, table.clicks)
        return table.summed()

    @property
    def n_pairs(self) -> int:
        return len(self.article)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Pair number → (article id, story id)."""
        return [(self.ids[a], self.ids[s]) for a, s in zip(self.article.tolist(), self.story.tolist(), strict=True)]

    def summed(self) -> ClickTable:
        """The same counts with each (pair, position) on one row."""
        if not len(self.pair):
            return self
        key = self.pair * (MAX_POSITIONS + 1) + self.position
        unique, inverse = np.unique(key, return_inverse=True)
        return ClickTable(self.ids, self.article, self.story, unique // (MAX_POSITIONS + 1),
                          unique % (MAX_POSITIONS + 1), np.bincount(inverse, self.impressions),
                          np.bincount(inverse, self.clicks))


def examination_curve(table: ClickTable, iterations: int = 20) -> np.ndarray:
    """θ by position (index 0 = position 1), relative to the top slot (θ_1 = 1), fitted to the PBM.

    Clicks are counts of rare successes, so each (pair, position) row's clicks are taken as Poisson
    with mean impressions · θ_k · α_p (the PBM's Bernoulli likelihood for small click rates) and the
    likelihood is maximised by alternating the two closed-form updates, θ_k = clicks_k / Σ n·α and
    α_p = clicks_p / Σ n·θ (a pair's α shrunk by a Beta-like prior of `_ALPHA_PRIOR` expected clicks).
    The EM of the Bernoulli PBM drifts towards the same curve far more slowly (simulated clicks, true
    θ_2 = 0.62: EM 0.75 after 50 passes and 0.67 after 500; this fit 0.60 after 5, as after 60).
    The curve is kept non-increasing (weighted isotonic regression at each pass: a lower slot is never
    examined more, as eye-tracking of vertical lists finds, Joachims et al. 2005), which stops one
    article's standout story from being read as a well-read slot. Positions never shown get the value
    of the nearest shown one.
    """
    if not len(table.pair) or table.clicks.sum() == 0:
        return np.ones(MAX_POSITIONS)
    k = table.position - 1
    n, c = table.impressions, table.clicks
    n_pairs, n_pos = table.n_pairs, int(k.max()) + 1
    clicks_at = np.bincount(k, c, n_pos)
    clicks_of = np.bincount(table.pair, c, n_pairs)
    theta = np.ones(n_pos)
    alpha = np.full(n_pairs, c.sum() / n.sum())
    for _ in range(iterations):
        exposure_at = np.bincount(k, n * alpha[table.pair], n_pos)
        theta = clicks_at / np.maximum(exposure_at, 1e-12)
        theta = isotonic_regression(theta, sample_weight=exposure_at + 1e-9, increasing=False)
        theta /= theta[0] if theta[0] > 0 else max(theta.max(), 1e-12)
        exposure = np.bincount(table.pair, n * theta[k], n_pairs)
        prior_rate = max(c.sum() / exposure.sum(), 1e-12)  # an average pair's α at this curve
        alpha = (clicks_of + _ALPHA_PRIOR) / (exposure + _ALPHA_PRIOR / prior_rate)
    seen = np.flatnonzero(clicks_at > 0)
    full = np.empty(MAX_POSITIONS)
    full[:n_pos] = np.interp(np.arange(n_pos), seen, theta[seen])
    full[n_pos:] = full[n_pos - 1]
    return full


@dataclass(frozen=True)
class Evidence:
    """Per pair: impressions, clicks, the clicks expected of an average story of its article where it was
    shown, and the posterior of clicks / expected: its mean, and the `lift` the re-ranking uses (the mean
    once the pair is proven; before, 1 when the interval holds 1, else its nearer end). Pairs are
    numbered and coded as in the `ClickTable` they come from."""

    ids: list[str]
    article: np.ndarray
    story: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    expected: np.ndarray
    mean: np.ndarray
    lift: np.ndarray

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Pair number → (article id, story id)."""
        return [(self.ids[a], self.ids[s]) for a, s in zip(self.article.tolist(), self.story.tolist(), strict=True)]

    def index(self) -> dict[tuple[str, str], int]:
        """Pair → row, to look pairs up by ids."""
        return {pair: i for i, pair in enumerate(self.pairs)}


def pair_evidence(table: ClickTable, examination: np.ndarray, options: LearningOptions) -> Evidence:
    """Each pair's clicks against the clicks expected from where it was shown (see the module docstring).

    An article's click rate per unit of examination is its own (shrunk to the global one by
    `prior_strength` expected clicks), so the evidence compares stories within a list, whatever the
    article's readers click overall. `examination` of ones gives raw CTR (no debiasing).
    """
    n_pairs = table.n_pairs
    if not n_pairs:
        empty = np.empty(0)
        return Evidence(table.ids, table.article, table.story, empty, empty, empty, empty, empty)
    exposure_rows = table.impressions * examination[table.position - 1]
    impressions = np.bincount(table.pair, table.impressions, n_pairs)
    clicks = np.bincount(table.pair, table.clicks, n_pairs)
    exposure = np.bincount(table.pair, exposure_rows, n_pairs)
    article_clicks = np.bincount(table.article, clicks)  # by the article's code (a story's own: 0)
    article_exposure = np.bincount(table.article, exposure)
    s = options.prior_strength
    global_rate = clicks.sum() / max(exposure.sum(), 1e-12)
    rate = (article_clicks + s) / (article_exposure + s / max(global_rate, 1e-12))
    expected = exposure * rate[table.article]
    shape, scale = s + clicks, 1.0 / (s + expected)
    tail = (1.0 - options.confidence) / 2
    low = gammaincinv(shape, tail) * scale
    high = gammaincinv(shape, 1.0 - tail) * scale
    cautious = np.where(low > 1.0, low, np.where(high < 1.0, high, 1.0))
    lift = np.where(impressions >= options.min_impressions, shape * scale, cautious)
    return Evidence(table.ids, table.article, table.story, impressions, clicks, expected, shape * scale, lift)


def learned_orders(
    scores: np.ndarray, lifts: np.ndarray, impressions: np.ndarray, options: LearningOptions
) -> np.ndarray:
    """Each row's candidates re-ranked by score × clip(lift)^weight, as positions into the row.

    `scores`, `lifts` and `impressions` are articles × pool, the pool in the model's order (padding:
    score NaN). A candidate with fewer than `min_impressions` impressions never lands more than
    `max_unproven_rise` places above its model position. Padding stays last (-1).
    """
    bounded = np.clip(lifts, 1.0 / options.max_lift, options.max_lift) ** options.weight
    combined = np.where(np.isnan(scores), -np.inf, scores * bounded)
    proven = impressions >= options.min_impressions
    out = np.full(scores.shape, -1, dtype=np.int32)
    _greedy_orders(combined, proven, options.max_unproven_rise, out)
    return out


@njit(cache=True, nogil=True)
def _greedy_orders(combined, proven, max_rise, out):  # pragma: no cover - compiled
    """Fill each slot with the best candidate allowed there: proven ones anywhere, unproven ones no
    higher than `max_rise` above their model position (one of those is always left for each slot)."""
    n_rows, width = combined.shape
    taken = np.zeros(width, dtype=np.bool_)
    for i in range(n_rows):
        taken[:] = False
        count = 0
        for pos in range(width):
            if combined[i, pos] == -np.inf:
                taken[pos] = True
            else:
                count += 1
        for slot in range(count):
            best = -1
            for pos in range(width):
                if taken[pos] or (not proven[i, pos] and pos - max_rise > slot):
                    continue
                if best < 0 or combined[i, pos] > combined[i, best]:
                    best = pos
            out[i, slot] = best
            taken[best] = True


def moved(order: Sequence[int], limit: int) -> bool:
    """Whether an order changes the first `limit` places of the model's list."""
    return any(pos != slot for slot, pos in enumerate(order[:limit]))


@dataclass(frozen=True)
class Move:
    """Why reader evidence moved a story: where the model put it and what readers did with it."""

    model_position: int  # 1-based, in the model's candidate pool
    impressions: int
    clicks: int
    expected_clicks: float
    ratio: float  # posterior mean of clicks / expected clicks


@dataclass(frozen=True)
class LearnedList:
    """An article's list in the order reader evidence gives it (longer than a list, so rules can fill it),
    with the stories it moved."""

    order: tuple[str, ...]
    scores: tuple[float, ...]  # the model's scores of `order`'s stories
    moves: dict[str, Move]

"""Reader evidence on simulated clicks with a known examination curve and known attractiveness."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.reader_evidence import ClickTable, LearningOptions, examination_curve, learned_orders, pair_evidence

TRUE_CURVE = 1 / np.arange(1, 11) ** 0.7


def simulated(seed: int = 0, articles: int = 300, views: int = 60, shuffled_share: float = 0.3) -> tuple[
        ClickTable, np.ndarray]:
    """Lists of 10 drawn from 20 candidates per article, mostly in one order, sometimes shuffled;
    clicks = Bernoulli(θ_position × attractiveness)."""
    rng = np.random.default_rng(seed)
    attractiveness = rng.beta(2, 8, (articles, 20))
    rows = []
    for a in range(articles):
        for _ in range(views):
            order = rng.permutation(20)[:10] if rng.random() < shuffled_share else np.arange(10)
            clicked = rng.random(10) < TRUE_CURVE * attractiveness[a, order]
            rows += [(f"a{a}", f"s{s}", k + 1, 1, int(c)) for k, (s, c) in enumerate(zip(order, clicked, strict=True))]
    return ClickTable.from_rows(rows), attractiveness


def test_the_examination_curve_is_recovered_from_the_clicks() -> None:
    table, _ = simulated()
    curve = examination_curve(table)
    assert curve[0] == 1.0
    assert np.abs(curve[:10] - TRUE_CURVE).max() < 0.05
    assert np.all(np.diff(curve) <= 0)  # never rises down the list


def test_rows_are_summed_and_bad_rows_dropped() -> None:
    table = ClickTable.from_rows([("a", "s", 1, 3, 1), ("a", "s", 1, 2, 0), ("a", "t", 2, 0, 1), ("a", "u", 0, 5, 1),
                                  ("a", "v", 51, 5, 1), ("a", "w", 3, 0, 0)])
    assert table.pairs == [("a", "s"), ("a", "t")] and table.ids == ["a", "s", "t"]  # ids once, pairs as codes
    assert table.impressions.tolist() == [5, 1] and table.clicks.tolist() == [1, 1]  # a lone click is an impression


def test_debiased_evidence_prefers_the_story_clicked_from_a_low_slot() -> None:
    """Both stories get 40 clicks in 1,000 impressions, one at position 1, the other at position 5 (examined
    a third as often): raw CTR calls them equal, the debiased evidence puts the low one far ahead."""
    background = [(f"b{i}", f"s{k}", k, 1000, int(1000 * 0.1 * TRUE_CURVE[k - 1])) for i in range(50)
                  for k in range(1, 11)]
    table = ClickTable.from_rows([*background, ("a", "top", 1, 1000, 40), ("a", "low", 5, 1000, 40)])
    options = LearningOptions()
    debiased = pair_evidence(table, examination_curve(table), options)
    raw = pair_evidence(table, np.ones(50), options)
    top, low = table.pairs.index(("a", "top")), table.pairs.index(("a", "low"))
    assert raw.mean[low] == pytest.approx(raw.mean[top])
    assert debiased.mean[low] > 2.5 * debiased.mean[top]
    assert debiased.lift[low] > 1.0


def test_a_pair_with_few_impressions_has_no_evidence() -> None:
    table, _ = simulated(articles=50)
    rows = [(a, s, int(p), int(n), int(c)) for (a, s), p, n, c in
            zip((table.pairs[i] for i in table.pair), table.position, table.impressions, table.clicks, strict=True)]
    table = ClickTable.from_rows([*rows, ("new", "lucky", 9, 10, 3)])  # clicked 3 times in 10 from position 9
    evidence = pair_evidence(table, examination_curve(table), LearningOptions())
    assert evidence.lift[table.pairs.index(("new", "lucky"))] == 1.0


def test_learned_orders_move_proven_stories_and_cap_unproven_ones() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, np.nan]])
    lifts = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 8.0, 1.0]])
    proven = np.array([[100, 100, 100, 100, 100, 100, 0]])
    assert learned_orders(scores, lifts, proven, LearningOptions()).tolist() == [[5, 0, 1, 2, 3, 4, -1]]
    unproven = np.array([[100, 100, 100, 100, 100, 5, 0]])
    assert learned_orders(scores, lifts, unproven, LearningOptions()).tolist() == [[0, 1, 2, 5, 3, 4, -1]]
    half = learned_orders(scores, lifts, proven, LearningOptions(weight=0.5, max_lift=4.0))
    assert half.tolist() == [[0, 1, 5, 2, 3, 4, -1]]  # 0.4 × 4^0.5 = 0.8 ties 0.8: the model's order wins
    assert learned_orders(scores, lifts, proven, LearningOptions(weight=0.0)).tolist() == [[0, 1, 2, 3, 4, 5, -1]]


@pytest.mark.parametrize("bad", [{"weight": 1.5}, {"max_lift": 0.5}, {"prior_strength": 0}, {"confidence": 1.0},
                                 {"min_impressions": -1}])
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        LearningOptions(**bad)

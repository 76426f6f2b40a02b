"""`learn_lists` joins the candidate pools with the reader evidence as arrays: the same lists as looking
every pooled story up by its ids (the oracle), in one chunk of articles or many."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from publishing.learned import learn_lists, pool_size, weigh_evidence
from recommender import artifacts
from recommender.default_lists import ArticleLists, article_lists
from recommender.reader_evidence import ClickTable, Evidence, LearningOptions, learned_orders

LIMIT = 10


@pytest.fixture(scope="module")
def pools(sample_models_dir: Path) -> ArticleLists:
    model, _ = artifacts.load_version(sample_models_dir, artifacts.read_current(sample_models_dir))
    return article_lists(model, None, pool_size(LIMIT, model.top_k))


def clicks_on(pools: ArticleLists, seed: int = 3) -> ClickTable:
    """Shuffled views of 80 articles' pools with clicks, plus pairs no pool holds: an article the model does
    not know, and a story that is in no list."""
    rng = np.random.default_rng(seed)
    rows = []
    for article_id, ids, _ in list(pools.all_lists())[:80]:
        attractiveness = rng.beta(2, 6, len(ids))
        for _ in range(30):
            order = rng.permutation(len(ids))[:LIMIT]
            rows += [(article_id, ids[p], k, 1, int(rng.random() < attractiveness[p] / k))
                     for k, p in enumerate(order, start=1)]
        rows.append((article_id, "not-in-any-list", 2, 40, 20))
    rows.append(("not-in-the-model", ids[0], 1, 50, 30))
    return ClickTable.from_rows(rows)


def looked_up(pools: ArticleLists, evidence: Evidence, options: LearningOptions) -> dict[str, list[str]]:
    """The oracle: every pool re-ranked on its own, each story's evidence found by its ids."""
    index = evidence.index()
    with_evidence = {a for a, _ in evidence.pairs}
    lists = {}
    for article_id, ids, scores in pools.all_lists():
        if article_id not in with_evidence or len(ids) < 2:
            continue
        found = np.array([index.get((article_id, s), -1) for s in ids])
        padding = pools.limit - len(ids)

        def row(values: np.ndarray, fill: float, padding: int = padding) -> np.ndarray:
            return np.concatenate([values, np.full(padding, fill)])[None]

        lifts = row(np.where(found >= 0, evidence.lift[found], 1.0), 1.0)
        shown = row(np.where(found >= 0, evidence.impressions[found], 0.0), 0.0)
        order = [int(p) for p in learned_orders(row(np.array(scores), np.nan), lifts, shown, options)[0] if p >= 0]
        if order[:LIMIT] != list(range(min(LIMIT, len(order)))):
            lists[article_id] = [ids[p] for p in order]
    return lists


@pytest.mark.parametrize("chunk_rows", [1, 7, 10_000])
def test_learned_lists_are_the_oracles_in_any_chunks(pools: ArticleLists, chunk_rows: int) -> None:
    options = LearningOptions()
    evidence, examination = weigh_evidence(clicks_on(pools), options)
    learned = learn_lists("v", pools, evidence, examination, options, LIMIT, chunk_rows=chunk_rows)
    expected = looked_up(pools, evidence, options)
    assert len(expected) >= 5  # the clicks do move lists
    assert {a: list(entry.order) for a, entry in learned.lists.items()} == expected
    assert learned.stats["with_evidence"] == 80 and learned.stats["pairs"] == len(evidence.article)

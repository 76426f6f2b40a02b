"""Site boilerplate: repeated whole sentences learned at the fit and left out of the vectors, never a topic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender import artifacts
from recommender.boilerplate import Boilerplate
from recommender.changes import apply_changes
from recommender.corpus import Article
from recommender.model import RelatedModel
from recommender.ranking import DEFAULT_MIN_SCORE, RankingOptions
from recommender.vectorize import VectorizerParams

CREDIT = "Image credits: NASA / JPL-Caltech"
NEWSLETTER = "Sign up for our newsletter. Get the best science stories every morning."
SUBJECTS = [
    ("Comet", "comet tail nucleus orbit ice dust perihelion"),
    ("Bees", "bees hive pollen queen honey colony nectar"),
    ("Reef", "coral reef bleaching ocean warming algae fish"),
    ("Rail", "train railway station timetable track signal carriage"),
    ("Chess", "chess opening gambit bishop knight endgame board"),
    ("Bread", "bread flour oven sourdough yeast loaf crust"),
]


def _articles(with_blocks: bool) -> list[Article]:
    """Two stories a subject; with blocks, every story also carries the site's credit and newsletter lines."""
    articles = []
    for subject, words in SUBJECTS:
        vocab = words.split()
        for k in range(2):
            text = " ".join(vocab[k : k + 5]) + f" {subject.lower()}."
            # "climate change" recurs inside different sentences: a topic, never a block
            body = f"{text.capitalize()} Experts link it to climate change in {subject.lower()} studies."
            if with_blocks:
                body = f"{CREDIT}\n{body}\n{NEWSLETTER}"
            articles.append(Article(f"{subject.lower()}-{k}", f"{subject} story {k}", body))
    return articles


def test_a_block_is_a_whole_sentence_in_many_articles_and_a_topic_phrase_is_not() -> None:
    bodies = [a.body for a in _articles(with_blocks=True)]
    learned = Boilerplate.learn(bodies, len(bodies))
    assert set(learned.blocks) == {"image credits: nasa / jpl-caltech", "sign up for our newsletter.",
                                   "get the best science stories every morning."}
    assert all(count == len(bodies) for count in learned.blocks.values())
    assert not any("climate change" in block for block in learned.blocks)
    stripped = learned.strip(bodies[0])
    assert stripped == "Comet tail nucleus orbit ice comet. Experts link it to climate change in comet studies."
    assert "3 repeated block(s)" in learned.summary()


def test_a_sentence_in_fewer_articles_than_the_floors_is_kept() -> None:
    bodies = ["Read more: the comet returns.\nA story."] * 4 + [f"story {i}" for i in range(996)]
    assert Boilerplate.learn(bodies, len(bodies)).blocks == {}  # 4 < 5 articles
    bodies = ["Read more: the comet returns.\nA story."] * 6 + [f"story {i}" for i in range(1994)]
    assert Boilerplate.learn(bodies, len(bodies)).blocks == {}  # 6 < 0.5 % of 2,000
    assert Boilerplate.learn(bodies, len(bodies), min_share=0.001).blocks == {
        "read more: the comet returns.": 6, "a story.": 6}


def test_blocks_do_not_link_unrelated_stories() -> None:
    plain = RelatedModel(top_k=5).fit(_articles(with_blocks=False))
    site = RelatedModel(top_k=5).fit(_articles(with_blocks=True))
    without_rule = RelatedModel(top_k=5, params=VectorizerParams(boilerplate_min_share=None)).fit(
        _articles(with_blocks=True))
    np.testing.assert_array_equal(site.vectors_.tfidf.toarray(), plain.vectors_.tfidf.toarray())
    # comet-0 and bees-0 share the blocks and a topic phrase: with the blocks they would pass the list's floor
    linked = without_rule.space_.pairwise(np.array([0, 2]))[0, 1]
    assert site.space_.pairwise(np.array([0, 2]))[0, 1] < DEFAULT_MIN_SCORE < linked
    assert site.article("comet-0").title == "Comet story 0"
    items = site.related("comet-0", RankingOptions(limit=3), explain=True)
    assert items[0].article.id == "comet-1"
    shown = {term for item in items for term, _ in item.explanation.terms}
    assert not shown & {"credits", "nasa", "newsletter", "jpl"}


def test_the_learned_blocks_are_saved_and_an_update_leaves_them_out(tmp_path: Path) -> None:
    model = RelatedModel(top_k=5).fit(_articles(with_blocks=True))
    version = artifacts.save_version(model, tmp_path, info={"corpus": {}})
    loaded, _ = artifacts.load_version(tmp_path, version)
    assert loaded.vectorizer_.boilerplate == model.vectorizer_.boilerplate
    story = Article("comet-2", "Comet story 2", f"{CREDIT}\nComet tail nucleus orbit ice dust comet.\n{NEWSLETTER}")
    updated, _ = apply_changes(loaded, upserts=[story])
    bare = loaded.vectorizer_.transform_fields([story.title], ["Comet tail nucleus orbit ice dust comet."], [()])
    np.testing.assert_array_equal(updated.vectors_.tfidf[-1].toarray(), bare.tfidf.toarray())


@pytest.mark.parametrize("body", ["", "\n\n", "One line only"])
def test_strip_without_blocks_returns_the_body(body: str) -> None:
    assert Boilerplate({}).strip(body) == body

"""Editorial overrides on a corpus with a known answer: pins first in order, fill without repeats, never-rules."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from recommender.corpus import load_corpus
from recommender.model import RelatedItem, RelatedModel
from recommender.overrides import NO_RULES, ArticleRules, Overrides, inactive_reason, served_pins
from recommender.ranking import RankingOptions
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID

BIRDS = "why-birds-sing-loudest-at-dawn"


@pytest.fixture(scope="module")
def model() -> RelatedModel:
    return RelatedModel(top_k=50).fit(load_corpus(SAMPLE_CORPUS).articles)


def _ids(items: list[RelatedItem]) -> list[str]:
    return [item.article.id for item in items]


def _far_stories(model: RelatedModel, count: int) -> list[str]:
    """Stories the model would never list under the space station story (least similar first)."""
    listed = set(_ids(model.related(SPACE_STATION_ID, RankingOptions(limit=50, min_score=0.0))))
    others = [model.catalog_.id_at(i) for i in range(model.n_articles)]
    return [a for a in others if a not in listed and a != SPACE_STATION_ID][:count]


def test_pins_come_first_in_the_editors_order_and_the_model_fills_the_rest(model: RelatedModel) -> None:
    plain = _ids(model.related(SPACE_STATION_ID, RankingOptions(limit=6)))
    far = _far_stories(model, 2)
    pins = (far[1], plain[3], far[0])
    items = model.related(SPACE_STATION_ID, RankingOptions(limit=6), rules=ArticleRules(pins=pins))
    assert _ids(items)[:3] == list(pins)
    assert [i.source for i in items] == ["pinned"] * 3 + ["model"] * 3
    assert _ids(items)[3:] == [a for a in plain if a != plain[3]][:3]  # no repeat of the pinned model story
    assert len(set(_ids(items))) == 6


def test_pins_are_cut_to_the_limit_and_skip_what_the_caller_left_out(model: RelatedModel) -> None:
    far = _far_stories(model, 3)
    rules = ArticleRules(pins=tuple(far))
    assert _ids(model.related(SPACE_STATION_ID, RankingOptions(limit=2), rules=rules)) == far[:2]
    left_out = model.related(SPACE_STATION_ID, RankingOptions(limit=2, exclude=frozenset({far[0]})), rules=rules)
    assert _ids(left_out) == far[1:3]


def test_a_pinned_story_carries_its_own_similarity_and_explanation(model: RelatedModel) -> None:
    plain = model.related(SPACE_STATION_ID, RankingOptions(limit=3), explain=True)
    pinned = model.related(SPACE_STATION_ID, RankingOptions(limit=3), explain=True,
                           rules=ArticleRules(pins=(plain[2].article.id,)))
    assert pinned[0].similarity == pytest.approx(plain[2].similarity, abs=1e-5)
    assert pinned[0].explanation is not None and pinned[0].explanation.terms == plain[2].explanation.terms


def test_blocked_and_excluded_stories_never_appear_even_when_pinned(model: RelatedModel) -> None:
    plain = _ids(model.related(SPACE_STATION_ID, RankingOptions(limit=5)))
    rules = ArticleRules(pins=(plain[0], plain[1]), blocked=frozenset({plain[0]}), excluded=frozenset({plain[2]}))
    items = _ids(model.related(SPACE_STATION_ID, RankingOptions(limit=5), rules=rules))
    assert items[0] == plain[1]
    assert plain[0] not in items and plain[2] not in items
    assert len(items) == 5  # the model fills the places the never-rules emptied


def test_inactive_pins_are_skipped_not_served(model: RelatedModel) -> None:
    rules = ArticleRules(pins=("not-imported-yet", SPACE_STATION_ID, BIRDS))
    items = model.related(SPACE_STATION_ID, RankingOptions(limit=3), rules=rules)
    assert _ids(items)[0] == BIRDS and items[0].source == "pinned"
    assert [i.source for i in items[1:]] == ["model", "model"]
    reasons = [inactive_reason(SPACE_STATION_ID, s, rules, model.__contains__) for s in rules.pins]
    assert reasons == ["not_in_model", "same_article", None]


def test_text_queries_honour_exclusions_and_the_given_articles_rules(model: RelatedModel) -> None:
    article = model.article(SPACE_STATION_ID)
    plain = _ids(model.related_to_text(article.title, "", article.tags, RankingOptions(limit=4)))
    assert SPACE_STATION_ID in plain  # the text of the story finds the story itself
    rules = Overrides(pins=MappingProxyType({SPACE_STATION_ID: (BIRDS,)}), exclusions=frozenset({plain[1]}))
    anonymous = _ids(model.related_to_text(article.title, "", article.tags, RankingOptions(limit=4),
                                           rules=rules.rules_for(None)))
    assert plain[1] not in anonymous and BIRDS not in anonymous
    given = model.related_to_text(article.title, "", article.tags, RankingOptions(limit=4),
                                  article_id=SPACE_STATION_ID, rules=rules.rules_for(SPACE_STATION_ID))
    assert _ids(given)[0] == BIRDS and given[0].source == "pinned"
    assert SPACE_STATION_ID not in _ids(given) and plain[1] not in _ids(given)


def test_rules_for_merges_blocks_with_global_exclusions() -> None:
    overrides = Overrides(
        revision=3,
        pins=MappingProxyType({"a": ("p1", "p2")}),
        blocks=MappingProxyType({"a": frozenset({"b"})}),
        exclusions=frozenset({"x"}),
    )
    assert overrides.rules_for("a") == ArticleRules(("p1", "p2"), frozenset({"b"}), frozenset({"x"}))
    assert overrides.rules_for("a").never == {"b", "x"}
    assert overrides.rules_for("other").never == {"x"}
    assert Overrides().rules_for("a") is NO_RULES


def test_served_pins_drops_duplicates() -> None:
    rules = ArticleRules(pins=("b", "b", "c"))
    assert served_pins("a", rules, lambda _: True, leave_out=frozenset(), limit=5) == ["b", "c"]

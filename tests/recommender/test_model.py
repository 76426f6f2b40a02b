"""Behavioural tests of `RelatedModel` on corpora with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.corpus import Article, load_corpus
from recommender.errors import CorpusError, UnknownArticleError
from recommender.model import RelatedModel
from recommender.ranking import RankingOptions
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID


@pytest.fixture(scope="module")
def sample_model() -> RelatedModel:
    return RelatedModel(top_k=50).fit(load_corpus(SAMPLE_CORPUS).articles)


def test_space_station_story_gets_spaceflight_stories(sample_model: RelatedModel) -> None:
    categories = {a.id: a.category for a in load_corpus(SAMPLE_CORPUS).articles}
    top5 = sample_model.related(SPACE_STATION_ID, RankingOptions(limit=5))
    assert len(top5) == 5
    assert {categories[item.article.id] for item in top5} <= {"spaceflight", "astronomy"}


def test_every_list_stays_mostly_on_topic(sample_model: RelatedModel) -> None:
    """The sample corpus has 12 beats; the first related story should share the query's beat."""
    articles = load_corpus(SAMPLE_CORPUS).articles
    category = {a.id: a.category for a in articles}
    firsts = [sample_model.related(a.id, RankingOptions(limit=1, min_score=0))[0].article.id for a in articles]
    hits = sum(category[first] == a.category for first, a in zip(firsts, articles, strict=True))
    assert hits / len(articles) >= 0.85


def test_lists_are_ordered_and_never_contain_the_article_itself(sample_model: RelatedModel) -> None:
    for article_id in ("china-space-station-opens-to-international-crews", "why-birds-sing-loudest-at-dawn"):
        items = sample_model.related(article_id, RankingOptions(limit=50))
        scores = [item.score for item in items]
        assert scores == sorted(scores, reverse=True)
        assert article_id not in {item.article.id for item in items}


def _article(article_id: str, title: str, body: str, tags: tuple[str, ...] = ()) -> Article:
    return Article(id=article_id, title=title, body=body, tags=tags)


def test_known_answer_on_a_tiny_corpus() -> None:
    model = RelatedModel(top_k=3).fit(
        [
            _article("rocket-a", "Rocket launch", "rocket engine launch pad orbit"),
            _article("bird-a", "Dawn chorus", "birds sing at dawn in spring woodland"),
            _article("rocket-b", "Second rocket launch", "orbit rocket booster landing"),
            _article("bird-b", "Songbirds", "woodland birds sing louder at dawn"),
        ]
    )
    assert [i.article.id for i in model.related("rocket-a", RankingOptions(limit=1))] == ["rocket-b"]
    assert [i.article.id for i in model.related("bird-b", RankingOptions(limit=1))] == ["bird-a"]
    # unrelated stories share no term, so they are not padded into the list
    assert [i.article.id for i in model.related("bird-a", RankingOptions(limit=3))] == ["bird-b"]


def test_title_and_tags_weigh_more_than_body() -> None:
    model = RelatedModel(top_k=2).fit(
        [
            _article("q", "Volcano eruption", "lava ash", tags=("volcano",)),
            _article("title-match", "Volcano monitoring", "seismometers record tremors"),
            _article("body-match", "Island news", "the ferry timetable mentions volcano once"),
        ]
    )
    assert [i.article.id for i in model.related("q", RankingOptions(limit=2))] == ["title-match", "body-match"]


def test_unknown_article_is_an_error_not_an_empty_list(sample_model: RelatedModel) -> None:
    with pytest.raises(UnknownArticleError):
        sample_model.related("no-such-article")


def test_a_model_needs_two_articles() -> None:
    with pytest.raises(CorpusError):
        RelatedModel().fit([_article("only", "Only one", "text")])


def test_a_corpus_of_stop_words_has_no_vocabulary() -> None:
    with pytest.raises(CorpusError, match="vocabulary"):
        RelatedModel().fit([_article("a", "the", "and of"), _article("b", "it", "is the")])


def test_spilled_components_are_mapped_from_an_unlinked_file_and_change_nothing(
    sample_model: RelatedModel, tmp_path
) -> None:
    spilled = RelatedModel(top_k=50).fit(load_corpus(SAMPLE_CORPUS).articles, spill_dir=tmp_path)
    components = spilled.vectorizer_.svd_.components_
    assert isinstance(components, np.memmap) and not components.flags.writeable
    assert list(tmp_path.iterdir()) == []  # nothing left behind, even before the model is gone
    np.testing.assert_array_equal(components, sample_model.vectorizer_.svd_.components_)
    np.testing.assert_array_equal(spilled.neighbors_.indices, sample_model.neighbors_.indices)
    text = spilled.vectorizer_.transform_fields(["Space station"], ["A crew docks"], [()])
    np.testing.assert_array_equal(text.lsa, sample_model.vectorizer_.transform_fields(
        ["Space station"], ["A crew docks"], [()]).lsa)

"""Per-language analysis: languages declared or detected, each analysed for itself, lists within a language.

The fixture (`fixtures/languages/articles.jsonl`, written for the suite) holds three topics in eight
languages, two short stories each, without a `lang` field: every language there is detected.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender import artifacts
from recommender.catalog import ArticleCatalog
from recommender.corpus import Article, load_corpus, parse_article
from recommender.default_lists import compute_default_lists
from recommender.errors import CorpusError
from recommender.languages import analysis_text, language_tag, resolve_languages
from recommender.model import RelatedModel
from recommender.ranking import RankingOptions

FIXTURE = Path(__file__).parent / "fixtures" / "languages" / "articles.jsonl"
LANGUAGES = ("de", "fr", "es", "ru", "ar", "zh", "ja", "en")
# Stories on one subject in two languages that share names (Tesla, Grünheide, Model Y): similar enough
# to meet in one list when languages may cross.
TESLA = [
    Article("de-tesla-0", "Tesla baut die Gigafactory in Grünheide aus",
            "Tesla will die Gigafactory in Grünheide erweitern und dort mehr Model Y bauen. "
            "Elon Musk besuchte Grünheide."),
    Article("de-tesla-1", "Grünheide: Gigafactory von Tesla wächst",
            "In Grünheide wächst die Gigafactory von Tesla. Das Werk soll jedes Jahr mehr Model Y bauen, "
            "sagt Elon Musk."),
    Article("en-tesla-0", "Tesla expands the Gigafactory in Grünheide",
            "Tesla will expand its Gigafactory in Grünheide to build more Model Y cars. Elon Musk visited Grünheide."),
    Article("en-tesla-1", "Grünheide: Tesla's Gigafactory grows",
            "In Grünheide the Tesla Gigafactory is growing. The plant will build more Model Y cars every year, "
            "Elon Musk said."),
]


@pytest.fixture(scope="module")
def fixture_articles() -> list[Article]:
    return load_corpus(FIXTURE).articles


@pytest.fixture(scope="module")
def mixed_model(fixture_articles: list[Article]) -> RelatedModel:
    return RelatedModel(top_k=20).fit(fixture_articles + TESLA)


def _expected_language(article_id: str) -> str:
    return article_id.split("-")[0]


def _pair(article_id: str) -> str:
    return article_id[:-1] + ("1" if article_id.endswith("0") else "0")


def test_every_language_is_detected(mixed_model: RelatedModel) -> None:
    columns = mixed_model.catalog_.to_columns()
    assert columns["languages"] == [_expected_language(i) for i in columns["ids"]]
    assert set(columns["languages"]) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_story_finds_its_pair_first(mixed_model: RelatedModel, fixture_articles: list[Article],
                                         language: str) -> None:
    for article in (a for a in fixture_articles if a.id.startswith(f"{language}-")):
        items = mixed_model.related(article.id, RankingOptions(limit=3, duplicate_threshold=None))
        assert items and items[0].article.id == _pair(article.id), article.id


def test_lists_never_cross_languages_unless_asked(mixed_model: RelatedModel) -> None:
    same = [i.article.id for i in mixed_model.related("de-tesla-0", RankingOptions(limit=5))]
    crossing = [i.article.id for i in mixed_model.related("de-tesla-0", RankingOptions(limit=5, lang="any"))]
    assert same == ["de-tesla-1"]
    assert {"en-tesla-0", "en-tesla-1"} <= set(crossing)  # they would be there: only the rule keeps them out


def test_no_default_list_holds_a_story_in_another_language(mixed_model: RelatedModel) -> None:
    lists = compute_default_lists(mixed_model)
    languages = np.array(mixed_model.catalog_.to_columns()["languages"])
    rows, slots = np.nonzero(lists.indices >= 0)
    assert len(rows) >= mixed_model.n_articles  # every story has its pair at least
    assert (languages[lists.indices[rows, slots]] == languages[rows]).all()
    unfiltered = [mixed_model.related(mixed_model.catalog_.id_at(i), RankingOptions(lang="any"))
                  for i in range(mixed_model.n_articles)]
    assert any(_expected_language(item.article.id) != _expected_language(mixed_model.catalog_.id_at(i))
               for i, items in enumerate(unfiltered) for item in items)


def test_a_text_query_is_analysed_and_listed_in_its_language(mixed_model: RelatedModel) -> None:
    items = mixed_model.related_to_text("桜島の噴火", "桜島で噴火があり、火山灰が鹿児島に降りました。",
                                        options=RankingOptions(limit=3))
    assert {i.article.id for i in items} == {"ja-volcano-0", "ja-volcano-1"}
    text = ("Elon Musk opens a new hall in Grünheide",
            "The Tesla Gigafactory in Grünheide opened a new hall for the Model Y on Monday, said Elon Musk.")
    crossing = mixed_model.related_to_text(*text, options=RankingOptions(limit=6, lang="any"))
    assert {"de-tesla-0", "de-tesla-1"} <= {i.article.id for i in crossing}
    english = mixed_model.related_to_text(*text, options=RankingOptions(limit=6))
    assert {i.article.id for i in english} == {"en-tesla-0", "en-tesla-1"}
    assert mixed_model.related_to_text(*text, options=RankingOptions(limit=6), lang="de")[0].article.id.startswith(
        "de-")


def test_a_declared_language_wins_over_detection() -> None:
    declared = resolve_languages(["fr", None], ["Der Vulkan bricht aus", "Der Vulkan bricht aus"],
                                 ["Lava fließt aus der Spalte, die Behörden räumen das Dorf."] * 2)
    assert declared == ["fr", "de"]


def test_an_unsure_detection_takes_the_site_language_else_the_most_common() -> None:
    titles = ["Der Bundestag beschließt das neue Klimagesetz", "Die Regierung stellt den Haushalt vor", "ok"]
    bodies = ["Die Abgeordneten stimmten am Donnerstag mit großer Mehrheit für das Gesetz.",
              "Der Finanzminister erklärte die Pläne für das kommende Jahr im Parlament.", "42"]
    assert resolve_languages([None] * 3, titles, bodies) == ["de", "de", "de"]
    assert resolve_languages([None] * 3, titles, bodies, [None, None, "fr"]) == ["de", "de", "fr"]
    assert resolve_languages([None], ["ok"], ["42"]) == [None]


def test_cjk_text_becomes_character_pairs_and_other_languages_lose_stop_words() -> None:
    assert analysis_text("北京天气。Tokyo", "zh").split() == ["北京", "京天", "天气", "。Tokyo"]
    assert analysis_text("Der Vulkan und die Lava", "de") == "Vulkan Lava"
    english = "The volcano and the lava 北京"
    assert analysis_text(english, "en") == english and analysis_text(english, None) == english


@pytest.mark.parametrize(("value", "expected"), [("pt-BR", "pt"), ("zh_Hans", "zh"), (" DE ", "de"), ("", None),
                                                 (None, None)])
def test_language_tags(value: object, expected: str | None) -> None:
    assert language_tag(value) == expected


def test_a_bad_lang_field_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "A", "body": "b", "lang": "english!"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"articles.jsonl:1: field 'lang' must be a language tag"):
        load_corpus(path)
    assert parse_article({"id": "a", "title": "A", "body": "b", "language": "Deutsch (Schweiz)"}).lang is None


def test_html_lang_declares_the_language() -> None:
    article = parse_article({"id": "a", "title": "A", "body": '<html lang="pt-BR"><body><p>Olá</p></body></html>'})
    assert article.lang is None  # parse_article cleans; the corpus reader reads the tag before cleaning
    from recommender.corpus import clean_batch
    from recommender.sources import SourceRecord

    record = SourceRecord("f", 1, {"id": "a", "title": "A", "body": '<html lang="pt-BR"><p>Olá</p></html>'})
    cleaned = clean_batch([record], body_format="auto")[0]
    assert parse_article(cleaned.fields, body_format="text").lang == "pt"


def test_languages_survive_a_save_and_old_versions_load_without_them(
    mixed_model: RelatedModel, tmp_path: Path
) -> None:
    version = artifacts.save_version(mixed_model, tmp_path, info={"corpus": {}})
    loaded, _ = artifacts.load_version(tmp_path, version)
    assert loaded.catalog_.to_columns()["languages"] == mixed_model.catalog_.to_columns()["languages"]
    assert [i.article.id for i in loaded.related("de-tesla-0", RankingOptions(limit=5))] == ["de-tesla-1"]
    old = {name: values for name, values in mixed_model.catalog_.to_columns().items() if name != "languages"}
    catalog = ArticleCatalog(old)
    assert (catalog.facts.language_codes == -1).all() and catalog.main_language() is None


def test_an_update_resolves_new_articles_languages(mixed_model: RelatedModel) -> None:
    from recommender.changes import apply_changes

    story = replace(TESLA[1], id="de-tesla-2")
    updated, _ = apply_changes(mixed_model, upserts=[story])
    assert updated.catalog_.to_columns()["languages"][-1] == "de"
    assert {i.article.id for i in updated.related("de-tesla-2", RankingOptions(limit=5))} <= {
        "de-tesla-0", "de-tesla-1"}

"""Request-time ranking rules on hand-built corpora with a known answer, and `rank` on exact numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recommender.corpus import Article
from recommender.model import RelatedItem, RelatedModel
from recommender.ranking import CorpusFacts, Query, RankingOptions, rank

BASE_DATE = datetime(2024, 6, 1, tzinfo=UTC)


def _article(
    article_id: str,
    title: str,
    body: str,
    *,
    tags: Sequence[str] = (),
    category: str | None = None,
    days: float | None = 0,
) -> Article:
    """An article published `days` after BASE_DATE (None: undated)."""
    published_at = None if days is None else BASE_DATE + timedelta(days=days)
    return Article(article_id, title, body, tuple(tags), category, published_at)


def _ids(items: list[RelatedItem]) -> list[str]:
    return [item.article.id for item in items]


UNRELATED = [
    _article("chess", "Chess final", "A grandmaster won the chess final in a rapid tiebreak.", category="sport"),
    _article("opera", "Opera season", "The opera house announced a new season of premieres.", category="culture"),
    _article("bread", "Bread prices", "Bread prices rose as wheat costs climbed for bakeries.", category="economy"),
]


# --- min_score ------------------------------------------------------------------------------------

QUERY_WORDS = ["glacier", "melt", "river", "flood", "valley", "village", "farmers", "warning"]


@pytest.fixture(scope="module")
def graded_model() -> RelatedModel:
    """g1…g8 share the first 1…8 words of the query's body, so their similarity grows with the number."""
    articles = [_article("q", "Glacier melt floods valley", " ".join(QUERY_WORDS))]
    for k in range(1, 9):
        filler = " ".join(f"filler{k}{x}" for x in "abcdef")
        articles.append(_article(f"g{k}", f"Report {chr(96 + k) * 3}", " ".join(QUERY_WORDS[:k]) + " " + filler))
    return RelatedModel(top_k=20).fit(articles + UNRELATED)


def test_graded_corpus_has_the_expected_order(graded_model: RelatedModel) -> None:
    items = graded_model.related("q", RankingOptions(limit=20, min_score=0.0))
    assert _ids(items)[:8] == [f"g{k}" for k in range(8, 0, -1)]


@pytest.mark.parametrize("min_score", [0.0, 0.1, 0.2, 0.3, 0.4])
def test_min_score_is_a_floor_on_similarity(graded_model: RelatedModel, min_score: float) -> None:
    items = graded_model.related("q", RankingOptions(limit=20, min_score=min_score))
    assert items
    assert all(item.similarity >= min_score for item in items)
    everything = graded_model.related("q", RankingOptions(limit=20, min_score=0.0))
    assert _ids(items) == [i.article.id for i in everything if i.similarity >= min_score]


def test_raising_min_score_shortens_the_list_instead_of_padding_it(graded_model: RelatedModel) -> None:
    lengths = [len(graded_model.related("q", RankingOptions(limit=10, min_score=s))) for s in (0.0, 0.2, 0.4)]
    assert lengths[0] > lengths[1] > lengths[2] >= 1
    assert lengths[2] < 10


# --- near-duplicates ------------------------------------------------------------------------------

COMET_TEXT = "The comet passed close to Earth and its bright tail was visible across the northern hemisphere."
TAIL_TEXT = "Amateur astronomers photographed the comet tail from dark sites in the northern hemisphere."


@pytest.fixture(scope="module")
def syndicated_model() -> RelatedModel:
    """`tail` and its syndicated copy `tail-wire`; `comet-wire` is a copy of the query `comet`."""
    return RelatedModel(top_k=10).fit(
        [
            _article("comet", "Comet flyby lights up the night sky", COMET_TEXT, tags=["comet"]),
            _article("tail", "Comet tail photographed by amateurs", TAIL_TEXT, tags=["comet"]),
            _article("when", "When to see the comet", "Look low in the west after sunset to see the comet tail."),
            _article("tail-wire", "Comet tail photographed by amateurs", TAIL_TEXT, tags=["comet"]),
            _article("comet-wire", "Comet flyby lights up the night sky", COMET_TEXT, tags=["comet"]),
            *UNRELATED,
        ]
    )


@pytest.mark.parametrize("query", ["comet", "when", "comet-wire"])
def test_an_article_and_its_syndicated_copy_never_both_appear(syndicated_model: RelatedModel, query: str) -> None:
    ids = _ids(syndicated_model.related(query))
    assert len({"tail", "tail-wire"} & set(ids)) == 1


def test_a_near_copy_of_the_query_is_not_recommended(syndicated_model: RelatedModel) -> None:
    assert "comet-wire" not in _ids(syndicated_model.related("comet"))
    assert "comet" not in _ids(syndicated_model.related("comet-wire"))


def test_without_dedup_both_copies_appear(syndicated_model: RelatedModel) -> None:
    items = syndicated_model.related("comet", RankingOptions(duplicate_threshold=None))
    assert {"tail", "tail-wire", "comet-wire"} <= set(_ids(items))
    assert items[0].article.id == "comet-wire"
    assert items[0].similarity == pytest.approx(1.0, abs=1e-4)


def test_dedup_removes_only_the_copies(syndicated_model: RelatedModel) -> None:
    deduped = _ids(syndicated_model.related("comet"))
    everything = _ids(syndicated_model.related("comet", RankingOptions(duplicate_threshold=None)))
    # identical copies tie on score; the lower row (the one first in the corpus) is kept
    assert deduped == [i for i in everything if i not in {"comet-wire", "tail-wire"}]
    assert "tail" in deduped


def test_an_article_with_more_copies_than_its_list_holds_is_still_deduplicated() -> None:
    """Four copies with lists of two: the copies' lists are all copies (crowded), so the copies of a
    copy cannot be read from the lists; they are computed, and only one copy is listed."""
    copies = [_article(f"tail-{n}", "Comet tail photographed by amateurs", TAIL_TEXT, tags=["comet"]) for n in range(4)]
    model = RelatedModel(top_k=2).fit(
        [_article("when", "When to see the comet", "Look low in the west after sunset to see the comet tail."),
         *copies, *UNRELATED]
    )
    ids = _ids(model.related("when", RankingOptions(limit=5)))
    assert [i for i in ids if i.startswith("tail-")] == ["tail-0"]
    assert len(_ids(model.related("when", RankingOptions(limit=5, duplicate_threshold=None)))) > len(ids)


# --- exclusions -----------------------------------------------------------------------------------


def test_excluded_ids_never_appear_and_the_list_is_refilled(graded_model: RelatedModel) -> None:
    before = _ids(graded_model.related("q", RankingOptions(limit=4)))
    excluded = frozenset(before[:2])
    after = _ids(graded_model.related("q", RankingOptions(limit=4, exclude=excluded)))
    assert not excluded & set(after)
    assert len(after) == 4
    longer = _ids(graded_model.related("q", RankingOptions(limit=6)))
    assert after == [i for i in longer if i not in excluded][:4]


def test_unknown_excluded_ids_are_ignored(graded_model: RelatedModel) -> None:
    plain = graded_model.related("q", RankingOptions(limit=5))
    with_unknown = graded_model.related("q", RankingOptions(limit=5, exclude=frozenset({"no-such-id", "other"})))
    assert _ids(with_unknown) == _ids(plain)
    mixed = graded_model.related("q", RankingOptions(limit=5, exclude=frozenset({"no-such-id", "g8"})))
    assert "g8" not in _ids(mixed)
    assert len(mixed) == 5


# --- freshness ------------------------------------------------------------------------------------

HEAT = "heatwave temperature records city hospitals water shortage"


@pytest.fixture(scope="module")
def dated_model() -> RelatedModel:
    """Stories on the query's subject at known distances in days from it (query published on day 0)."""
    return RelatedModel(top_k=20).fit(
        [
            _article("q", "Heatwave breaks temperature records", HEAT, days=0),
            _article("old", "Last heatwave broke temperature records", "temperature records city hospitals heat again",
                     days=-30),
            _article("recent", "Heatwave fills hospitals", "heatwave hospitals city water", days=-2),
            _article("future", "Heatwave water shortage", "heatwave water shortage city", days=3),
            _article("far-future", "Heatwave records review", "heatwave temperature records review", days=40),
            _article("undated", "Heatwave explainer", "heatwave temperature city explainer", days=None),
            *UNRELATED,
        ]
    )


def test_max_age_days_drops_stories_far_from_the_query_date_in_either_direction(dated_model: RelatedModel) -> None:
    everything = set(_ids(dated_model.related("q", RankingOptions(limit=20))))
    assert {"old", "recent", "future", "far-future", "undated"} <= everything
    within = _ids(dated_model.related("q", RankingOptions(limit=20, max_age_days=10)))
    assert set(within) == {"recent", "future", "undated"}


def test_max_age_days_boundary_is_inclusive(dated_model: RelatedModel) -> None:
    assert "old" in _ids(dated_model.related("q", RankingOptions(limit=20, max_age_days=30)))
    assert "old" not in _ids(dated_model.related("q", RankingOptions(limit=20, max_age_days=29.9)))


def test_half_life_halves_the_score_per_half_life_of_age(dated_model: RelatedModel) -> None:
    plain = {i.article.id: i for i in dated_model.related("q", RankingOptions(limit=20))}
    decayed = {i.article.id: i for i in dated_model.related("q", RankingOptions(limit=20, half_life_days=15))}
    # "old" is 30 days older than the query: two half-lives, a quarter of the score
    assert decayed["old"].score / plain["old"].score == pytest.approx(0.25, rel=1e-4)
    assert decayed["recent"].score / plain["recent"].score == pytest.approx(0.5 ** (2 / 15), rel=1e-4)
    assert decayed["undated"].score == pytest.approx(plain["undated"].score)
    assert decayed["future"].score == pytest.approx(plain["future"].score)  # only stories older than the article
    # the raw similarity is reported unchanged
    assert decayed["old"].similarity == plain["old"].similarity


def test_half_life_can_reorder_the_list(dated_model: RelatedModel) -> None:
    plain = _ids(dated_model.related("q", RankingOptions(limit=20)))
    decayed = _ids(dated_model.related("q", RankingOptions(limit=20, half_life_days=7)))
    assert plain[0] == "old"
    assert decayed.index("recent") < decayed.index("old")
    assert decayed.index("old") == len(decayed) - 1


# --- diversity ------------------------------------------------------------------------------------

ERUPTION = (
    "lava flowed down the slopes of the island volcano overnight and nearby villages were evacuated after the eruption"
)


@pytest.fixture(scope="module")
def eruption_model() -> RelatedModel:
    """Four rewrites of one eruption report and one story on another angle of it (flights)."""
    return RelatedModel(top_k=20).fit(
        [
            _article(
                "q", "Island volcano erupts",
                "The island volcano erupted overnight; lava flowed down its slopes and villages were evacuated.",
            ),
            _article("c1", "Island volcano erupts overnight", ERUPTION + " residents said"),
            _article("c2", "Island volcano eruption overnight", ERUPTION + " officials said"),
            _article("c3", "Volcano erupts on the island", ERUPTION + " police said"),
            _article("c4", "Island eruption: villages evacuated", ERUPTION + " reporters said"),
            _article(
                "flights", "Island volcano eruption grounds flights",
                "Airlines cancelled flights as ash drifted over airports, stranding travellers at terminals.",
            ),
            *UNRELATED,
        ]
    )


def test_diversity_brings_another_angle_forward(eruption_model: RelatedModel) -> None:
    plain = _ids(eruption_model.related("q", RankingOptions(limit=5)))
    diverse = _ids(eruption_model.related("q", RankingOptions(limit=5, diversity=0.5)))
    assert sorted(plain) == ["c1", "c2", "c3", "c4", "flights"]
    assert plain[-1] == "flights"  # by similarity alone the other angle comes last
    assert diverse[0] == plain[0]  # MMR starts from the best story
    assert diverse.index("flights") < plain.index("flights")
    assert diverse.index("flights") == 1


def test_zero_diversity_is_plain_score_order(eruption_model: RelatedModel) -> None:
    items = eruption_model.related("q", RankingOptions(limit=5, diversity=0.0))
    assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)


# --- category -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def category_model() -> RelatedModel:
    """`q` is science; `culture-close` (culture) is slightly more similar to it than `science-close`."""
    return RelatedModel(top_k=20).fit(
        [
            _article("q", "Telescope mirror polished", "engineers polished the giant telescope mirror segments",
                     category="science"),
            _article("culture-close", "Telescope mirror exhibition",
                     "museum shows polished giant telescope mirror segments", category="culture"),
            _article("science-close", "Telescope mirror cast", "engineers tested giant telescope mirror segments",
                     category="science"),
            _article("science-far", "Telescope funding", "observatory telescope funding approved",
                     category="science"),
            _article("culture-far", "Mirror art", "artists polished bronze mirror sculpture", category="culture"),
            *UNRELATED,
        ]
    )


def test_category_same_keeps_only_the_query_category(category_model: RelatedModel) -> None:
    anything = category_model.related("q", RankingOptions(limit=20))
    assert {i.article.category for i in anything} >= {"science", "culture"}
    same = category_model.related("q", RankingOptions(limit=20, category="same"))
    assert same
    assert {i.article.category for i in same} == {"science"}
    assert _ids(same) == [i.article.id for i in anything if i.article.category == "science"]


def test_category_prefer_boosts_same_category_stories(category_model: RelatedModel) -> None:
    anything = category_model.related("q", RankingOptions(limit=20))
    sims = {i.article.id: i.similarity for i in anything}
    assert sims["culture-close"] > sims["science-close"] > sims["culture-close"] / 1.25  # the premise
    assert _ids(anything).index("culture-close") < _ids(anything).index("science-close")
    preferred = category_model.related("q", RankingOptions(limit=20, category="prefer"))
    assert _ids(preferred).index("science-close") < _ids(preferred).index("culture-close")
    assert set(_ids(preferred)) == set(_ids(anything))  # prefer reorders, never removes


# --- fallback to a full scan ----------------------------------------------------------------------

REEF_WORDS = ["coral", "reef", "bleaching", "ocean", "heatwave", "marine", "scientists", "survey", "divers", "algae"]


def _reef_corpus() -> list[Article]:
    articles = [_article("q", "Coral reef bleaching", " ".join(REEF_WORDS))]
    for k in range(15):
        words = [w for j, w in enumerate(REEF_WORDS) if (j + k) % 3 != 0 or j < 2]
        articles.append(_article(f"r{k:02d}", f"Reef report {k}", " ".join(words[: 3 + k % 8]) + f" note{k} extra{k}"))
    return articles


def test_filters_that_empty_the_precomputed_list_fall_back_to_a_full_scan() -> None:
    articles = _reef_corpus()
    small = RelatedModel(top_k=3).fit(articles)
    full = RelatedModel(top_k=30).fit(articles)
    top3 = frozenset(small.catalog_.id_at(int(j)) for j in small.neighbors_.indices[0])
    assert len(top3) == 3
    options = RankingOptions(limit=5, exclude=top3)
    items = small.related("q", options)
    assert len(items) == options.limit
    assert not top3 & set(_ids(items))
    assert _ids(items) == _ids(full.related("q", options))  # the same answer as a model that kept everything


def test_a_category_filter_also_falls_back_to_a_full_scan() -> None:
    articles = [
        Article(a.id, a.title, a.body, a.tags, "reef" if i % 2 == 0 else "other", a.published_at)
        for i, a in enumerate(_reef_corpus())
    ]
    small = RelatedModel(top_k=3).fit(articles)
    precomputed = [articles[int(j)].category for j in small.neighbors_.indices[0]]
    assert precomputed.count("reef") < 5  # the premise: the top-K alone cannot fill the list
    items = small.related("q", RankingOptions(limit=5, category="same"))
    assert len(items) == 5
    assert {i.article.category for i in items} == {"reef"}


# --- explanations ---------------------------------------------------------------------------------


def _words(article: Article) -> set[str]:
    return set(re.findall(r"\b\w\w+\b", " ".join((article.title, article.body, *article.tags)).lower()))


def _is_shared(term: str, a: Article, b: Article) -> bool:
    """Every word of the term (a word or an n-gram) occurs in both articles."""
    return all(word in _words(a) and word in _words(b) for word in term.split())


EXPLAINED = [
    _article("q", "Solar storm lights up auroras", "A strong solar storm pushed auroras far south; grid operators "
             "watched transformers as the geomagnetic storm peaked.", tags=["aurora", "Space Weather"],
             category="space"),
    _article("a", "Auroras seen far south", "Auroras were photographed far south as the solar storm peaked.",
             tags=["aurora", "photography"], category="space"),
    _article("b", "Grid operators brace for storm", "Grid operators protected transformers from the geomagnetic "
             "storm.", tags=["space weather", "energy"], category="energy"),
    _article("c", "Sunspot may unleash a solar storm", "A large sunspot group is growing.", tags=["sun"],
             category="space"),
    *UNRELATED,
]


@pytest.fixture(scope="module")
def explained_model() -> RelatedModel:
    return RelatedModel(top_k=10).fit(EXPLAINED)


def test_explanation_terms_are_shared_words_with_positive_sorted_contributions(
    explained_model: RelatedModel,
) -> None:
    by_id = {a.id: a for a in EXPLAINED}
    items = explained_model.related("q", RankingOptions(limit=5), explain=True)
    assert {"a", "b", "c"} <= set(_ids(items))
    for item in items:
        e = item.explanation
        assert e is not None
        assert e.terms
        assert all(_is_shared(term, by_id["q"], by_id[item.article.id]) for term, _ in e.terms)
        contributions = [value for _, value in e.terms]
        assert all(value > 0 for value in contributions)
        assert contributions == sorted(contributions, reverse=True)
        assert sum(contributions) + e.semantic <= item.similarity + 1e-4


def test_explanation_adds_up_to_the_similarity_when_few_terms_are_shared(explained_model: RelatedModel) -> None:
    item = {i.article.id: i for i in explained_model.related("q", RankingOptions(limit=5), explain=True)}["c"]
    assert item.explanation is not None
    assert len(item.explanation.terms) < 5  # every shared term is listed, so nothing is left out of the sum
    total = sum(value for _, value in item.explanation.terms) + item.explanation.semantic
    assert total == pytest.approx(item.similarity, abs=1e-3)


def test_explanation_tags_and_category(explained_model: RelatedModel) -> None:
    items = {i.article.id: i for i in explained_model.related("q", RankingOptions(limit=5), explain=True)}
    assert items["a"].explanation.shared_tags == ["aurora"]
    assert items["a"].explanation.same_category is True
    assert items["b"].explanation.shared_tags == ["space weather"]  # tags match case-insensitively
    assert items["b"].explanation.same_category is False
    assert items["c"].explanation.shared_tags == []
    assert items["c"].explanation.same_category is True


def test_no_explanation_unless_asked(explained_model: RelatedModel) -> None:
    assert all(i.explanation is None for i in explained_model.related("q"))


# --- free text ------------------------------------------------------------------------------------

TOPICS = {
    "volcano": ("volcano eruption lava ash crater magma", "geology"),
    "football": ("football match goal striker league stadium", "sport"),
    "bakery": ("bakery bread flour oven sourdough loaf", "food"),
}


@pytest.fixture(scope="module")
def topics_model() -> RelatedModel:
    articles = []
    for topic, (words, category) in TOPICS.items():
        vocab = words.split()
        for k in range(4):
            chosen = [vocab[(k + j) % len(vocab)] for j in range(4)]
            articles.append(
                _article(f"{topic}-{k}", f"{chosen[0].title()} {chosen[1]} story", " ".join(chosen) + f" item{k}",
                         category=category, days=k)
            )
    return RelatedModel(top_k=10).fit(articles)


def test_related_to_text_puts_the_drafts_topic_first(topics_model: RelatedModel) -> None:
    vocabulary = topics_model.vectorizer_.vocabulary_size
    columns = topics_model.vectors_.tfidf.shape
    items = topics_model.related_to_text(
        "Striker scores late goal", "The striker scored a goal in the league match; brandnewword unseenterm.",
        tags=["football"], options=RankingOptions(limit=4),
    )
    assert len(items) == 4
    assert all(i.article.id.startswith("football-") for i in items)
    assert topics_model.vectorizer_.vocabulary_size == vocabulary  # never refits
    assert topics_model.vectors_.tfidf.shape == columns
    assert "brandnewword" not in topics_model.vectorizer_.feature_names()


def test_related_to_text_applies_the_ranking_options(topics_model: RelatedModel) -> None:
    options = RankingOptions(limit=10, exclude=frozenset({"bakery-0"}), category="same")
    items = topics_model.related_to_text(
        "Sourdough loaf", "A bakery oven for bread and flour", options=options, category="food",
        published_at=BASE_DATE, explain=True,
    )
    assert items
    assert {i.article.category for i in items} == {"food"}
    assert "bakery-0" not in _ids(items)
    assert all(i.explanation is not None and i.explanation.same_category for i in items)


# --- option validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit", 0),
        ("limit", -1),
        ("min_score", -0.01),
        ("min_score", 1.01),
        ("duplicate_threshold", 0.0),
        ("duplicate_threshold", 1.5),
        ("max_age_days", 0),
        ("max_age_days", -3),
        ("half_life_days", 0),
        ("half_life_days", -5),
        ("diversity", -0.1),
        ("diversity", 1.1),
        ("category", "nope"),
    ],
)
def test_ranking_options_reject_out_of_range_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RankingOptions(**{field: value})


def test_ranking_options_list_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        RankingOptions(limit=0, diversity=2.0)
    assert "limit" in str(info.value) and "diversity" in str(info.value)


@pytest.mark.parametrize(
    "values",
    [
        {"min_score": 0.0, "duplicate_threshold": 1.0, "max_age_days": 0.5, "half_life_days": 0.5, "diversity": 1.0},
        {"limit": 1, "min_score": 1.0, "diversity": 0.0, "category": "same", "duplicate_threshold": None},
    ],
)
def test_ranking_options_accept_boundary_values(values: dict[str, object]) -> None:
    options = RankingOptions(**values)
    assert all(getattr(options, name) == value for name, value in values.items())


# --- rank on exact numbers ------------------------------------------------------------------------


def _identity_pairs(indices: np.ndarray) -> np.ndarray:
    return np.eye(len(indices))


def _facts(days: Sequence[float], codes: Sequence[int] | None = None,
           languages: Sequence[int] | None = None) -> CorpusFacts:
    codes = codes if codes is not None else [-1] * len(days)
    languages = languages if languages is not None else [-1] * len(days)
    return CorpusFacts(np.array(days, dtype=np.float64), np.array(codes, dtype=np.int32),
                       np.array(languages, dtype=np.int32))


def _rank(
    sims: Sequence[float], options: RankingOptions, facts: CorpusFacts, query: Query | None = None,
    excluded: Sequence[int] = (), pairwise=_identity_pairs,
):
    return rank(
        query or Query(None, 100.0, -1),
        np.arange(len(sims)),
        np.array(sims, dtype=np.float32),
        options,
        facts,
        excluded=np.array(excluded, dtype=np.int64),
        pairwise=pairwise,
    )


def test_rank_half_life_exact_scores() -> None:
    ranked = _rank([0.8, 0.6, 0.5], RankingOptions(half_life_days=10), _facts([90.0, 100.0, float("nan")]))
    assert ranked.indices.tolist() == [1, 2, 0]
    assert ranked.scores.tolist() == pytest.approx([0.6, 0.5, 0.4])
    assert ranked.similarities.tolist() == pytest.approx([0.6, 0.5, 0.8])


def test_rank_judges_min_score_on_similarity_before_decay() -> None:
    ranked = _rank([0.5, 0.05], RankingOptions(half_life_days=10, min_score=0.1), _facts([60.0, 100.0]))
    assert ranked.indices.tolist() == [0]
    assert ranked.scores.tolist() == pytest.approx([0.5 / 16])


def test_rank_prefer_boost_is_capped_at_one() -> None:
    ranked = _rank(
        [0.85, 0.5, 0.6], RankingOptions(category="prefer", duplicate_threshold=None),
        _facts([100.0] * 3, [0, 0, 1]), query=Query(None, 100.0, 0),
    )
    assert ranked.indices.tolist() == [0, 1, 2]  # 0.5 × 1.25 overtakes the other category's 0.6
    assert ranked.scores.tolist() == pytest.approx([1.0, 0.625, 0.6])


def test_rank_drops_the_query_padding_and_exclusions() -> None:
    ranked = rank(
        Query(3, 100.0, -1),
        np.array([3, 5, -1, 7, 8]),
        np.array([0.7, 0.6, 0.65, 0.5, 0.4], dtype=np.float32),  # -1 pads a short row, whatever its score
        RankingOptions(),
        _facts([100.0] * 9),
        excluded=np.array([7]),
        pairwise=_identity_pairs,
    )
    assert ranked.indices.tolist() == [5, 8]


def test_rank_skips_near_copies_of_a_picked_story() -> None:
    pairs = np.array([[1.0, 0.95, 0.1], [0.95, 1.0, 0.1], [0.1, 0.1, 1.0]])

    def pairwise(indices: np.ndarray) -> np.ndarray:
        return pairs[np.ix_(indices, indices)]

    facts = _facts([100.0] * 3)
    deduped = _rank([0.7, 0.69, 0.5], RankingOptions(limit=2), facts, pairwise=pairwise)
    assert deduped.indices.tolist() == [0, 2]
    kept = _rank([0.7, 0.69, 0.5], RankingOptions(limit=2, duplicate_threshold=None), facts, pairwise=pairwise)
    assert kept.indices.tolist() == [0, 1]


def test_rank_same_category_with_an_unknown_query_category_is_empty() -> None:
    ranked = _rank([0.7, 0.6], RankingOptions(category="same"), _facts([100.0] * 2, [0, -1]))
    assert ranked.indices.tolist() == []


def test_rank_ties_resolve_to_the_lower_index() -> None:
    ranked = _rank([0.5, 0.5, 0.5], RankingOptions(duplicate_threshold=None), _facts([100.0] * 3))
    assert ranked.indices.tolist() == [0, 1, 2]


@pytest.mark.parametrize("dedup", [False, True], ids=["plain", "dedup"])
@pytest.mark.parametrize("seed", range(5))
def test_whole_corpus_scans_pick_exactly_the_best_with_ties_to_the_lower_row(seed: int, dedup: bool) -> None:
    """Thousands of candidates with many tied scores (a scan of the whole corpus): the list is the
    first `limit` of a full sort by (-score, row), as if every candidate had been sorted."""
    rng = np.random.default_rng(seed)
    n = 3000
    sims = rng.choice(np.linspace(0.05, 0.6, 12), size=n).astype(np.float32)  # 12 distinct values: ties
    options = RankingOptions(limit=10, duplicate_threshold=0.99 if dedup else None)
    ranked = _rank(sims, options, _facts([100.0] * n))
    expected = sorted(range(n), key=lambda j: (-sims[j], j))[:10]
    assert ranked.indices.tolist() == expected


# --- categories left out, and the newest of a category ---------------------------------------------


@pytest.fixture(scope="module")
def sectioned_model() -> RelatedModel:
    """Stories on the query's subject in three sections, on known days; the query is in `news`."""
    return RelatedModel(top_k=20).fit(
        [
            _article("q", "Heatwave breaks temperature records", HEAT, category="news", days=0),
            _article("n1", "Heatwave fills hospitals", "heatwave hospitals city water", category="news", days=-2),
            _article("n2", "Heatwave water shortage", "heatwave water shortage city", category="news", days=5),
            _article("n3", "Local fair opens", "the fair opens with rides and music", category="news", days=9),
            _article("n4", "Undated news", "heatwave explainer", category="news", days=None),
            _article("o1", "Heatwave and the heart", "heatwave temperature hospitals", category="opinion", days=1),
            _article("s1", "Marathon moved for heat", "heatwave city temperature race", category="sport", days=3),
            _article("loose", "Heat notes", "heatwave notes city", category=None, days=4),
            *UNRELATED,
        ]
    )


def test_excluded_categories_never_appear_and_the_list_is_refilled(sectioned_model: RelatedModel) -> None:
    def related(limit: int, *left_out: str) -> list[str]:
        options = RankingOptions(limit=limit, min_score=0.05, exclude_categories=frozenset(left_out))
        return _ids(sectioned_model.related("q", options))

    full = related(20)
    assert {"o1", "s1"} <= set(full) and len(full) < 20
    assert related(20, "opinion", "sport", "no-such-section") == [i for i in full if i not in ("o1", "s1")]
    assert related(2, "news") == [i for i in full if i in ("o1", "s1")]  # refilled beyond the first two


def test_newest_in_category_is_dated_same_section_stories_newest_first(sectioned_model: RelatedModel) -> None:
    catalog = sectioned_model.catalog_
    q = catalog.index_of("q")

    def newest(limit: int, leave_out: list[str] = ()) -> list[str]:
        rows = catalog.newest_in_category(q, limit, catalog.indices_of_known(leave_out))
        return [catalog.id_at(int(row)) for row in rows]

    assert newest(10) == ["n3", "n2", "n1"]  # not the query, not the undated story, not other sections
    assert newest(2, ["n3"]) == ["n2", "n1"]
    assert [catalog.id_at(int(r)) for r in catalog.newest_in_category(catalog.index_of("chess"), 5, np.empty(0))] \
        == ["s1"]  # the sample's unrelated chess story is in `sport` too
    assert catalog.newest_in_category(catalog.index_of("loose"), 5, np.empty(0)).tolist() == []  # no category

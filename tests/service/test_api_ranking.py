"""Ranking options through `GET /v1/articles/<id>/related`: each changes the list as documented, bad values are
400s naming the parameter, and every option is part of the cache key."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from publishing.train import train_and_publish
from recommender.corpus import Article, load_corpus
from service import create_app
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID

URL = f"/v1/articles/{SPACE_STATION_ID}/related"
MANY_IDS = [f"story-{i}" for i in range(40)]  # enough that set iteration order depends on insertion order


@pytest.fixture(scope="module")
def corpus() -> dict[str, Article]:
    return {a.id: a for a in load_corpus(SAMPLE_CORPUS).articles}


def _day(iso: str) -> date:
    return date.fromisoformat(iso[:10])


def _get(client, query: str = "") -> dict:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["count"] == len(body["related"])
    return body


def _ids(body: dict) -> list[str]:
    return [r["id"] for r in body["related"]]


def test_exclude_removes_the_ids_and_refills_the_list(client) -> None:
    plain = _ids(_get(client, "limit=5"))
    excluded = plain[:2]
    body = _get(client, f"limit=5&exclude={','.join(excluded)}")
    assert not set(excluded) & set(_ids(body))
    assert body["count"] == 5
    longer = _ids(_get(client, "limit=7"))
    assert _ids(body) == [i for i in longer if i not in excluded][:5]


def test_unknown_excluded_ids_are_ignored(client) -> None:
    assert _ids(_get(client, "limit=5&exclude=no-such-story,another-one")) == _ids(_get(client, "limit=5"))


def test_min_score_is_a_floor_and_never_padded(client) -> None:
    everything = _get(client, "limit=50&min_score=0")
    strict = _get(client, "limit=50&min_score=0.3")
    assert 0 < strict["count"] < everything["count"]
    assert all(r["score"] >= 0.3 for r in strict["related"])
    assert _ids(strict) == [r["id"] for r in everything["related"] if r["score"] >= 0.3]


def test_max_age_days_keeps_stories_near_the_articles_date(client, corpus: dict[str, Article]) -> None:
    published = corpus[SPACE_STATION_ID].published_at.date()
    plain = _get(client, "limit=50")
    assert any(abs((_day(r["published_at"]) - published).days) > 200 for r in plain["related"])  # the premise
    body = _get(client, "limit=50&max_age_days=200")
    assert body["count"] > 0
    assert all(abs((_day(r["published_at"]) - published).days) <= 200 for r in body["related"])


def test_half_life_decays_older_stories(client, corpus: dict[str, Article]) -> None:
    published = corpus[SPACE_STATION_ID].published_at.date()
    plain = _get(client, "limit=10")
    decayed = _get(client, "limit=10&half_life_days=30&explain=true")
    assert _ids(decayed) != _ids(plain)
    scores = [r["score"] for r in decayed["related"]]
    assert scores == sorted(scores, reverse=True)
    for r in decayed["related"]:
        age_days = (published - _day(r["published_at"])).days
        expected = r["explanation"]["similarity"] * 0.5 ** (max(age_days, 0) / 30)
        assert r["score"] == pytest.approx(expected, rel=1e-3, abs=1e-6)


def test_diversity_reorders_but_starts_from_the_best_story(client) -> None:
    plain = _ids(_get(client, "limit=10"))
    diverse = _ids(_get(client, "limit=10&diversity=0.7"))
    assert diverse[0] == plain[0]
    assert diverse != plain


def test_category_same_returns_only_the_articles_category(client, corpus: dict[str, Article]) -> None:
    own = corpus[SPACE_STATION_ID].category
    plain = _get(client, "limit=50&min_score=0")
    assert {corpus[i].category for i in _ids(plain)} - {own}  # the premise: other beats appear without it
    same = _get(client, "limit=50&min_score=0&category=same")
    assert same["count"] > 0
    assert {corpus[i].category for i in _ids(same)} == {own}
    expected = [i for i in _ids(plain) if corpus[i].category == own]
    # the precomputed list's own-category stories come first, in order; a full scan may add deeper ones
    assert _ids(same)[: len(expected)] == expected


def test_exclude_category_leaves_those_categories_out_and_refills(client, corpus: dict[str, Article]) -> None:
    plain = _get(client, "limit=30&min_score=0")
    own = corpus[SPACE_STATION_ID].category
    kept = [i for i in _ids(plain) if corpus[i].category != own]
    assert kept and len(kept) < len(_ids(plain))  # the premise: the list mixes its own and other categories
    body = _get(client, f"limit=30&min_score=0&exclude_category={own},no-such-category")
    assert own not in {corpus[i].category for i in _ids(body)}
    assert _ids(body)[:len(kept)] == kept and len(body["related"]) > len(kept)  # same order, refilled deeper
    fallback = _get(client, f"min_score=1&fallback=recent&exclude_category={own}")
    assert fallback["fallback"] == "recent" and fallback["related"] == []  # the fallback obeys it too


def test_category_prefer_boosts_the_articles_category(client, corpus: dict[str, Article]) -> None:
    own = corpus[SPACE_STATION_ID].category
    body = _get(client, "limit=20&category=prefer&explain=true")
    for r in body["related"]:
        boost = 1.25 if corpus[r["id"]].category == own else 1.0
        assert r["score"] == pytest.approx(min(1.0, boost * r["explanation"]["similarity"]), rel=1e-4)
        assert r["explanation"]["same_category"] is (corpus[r["id"]].category == own)
    assert any(corpus[i].category == own for i in _ids(body))


def test_explain_adds_an_explanation_to_every_story(client, corpus: dict[str, Article]) -> None:
    plain = _get(client, "limit=5")
    assert all("explanation" not in r for r in plain["related"])
    body = _get(client, "limit=5&explain=true")
    assert _ids(body) == _ids(plain)
    query = corpus[SPACE_STATION_ID]
    for r in body["related"]:
        e = r["explanation"]
        assert set(e) == {"similarity", "terms", "semantic", "shared_tags", "same_category"}
        assert e["similarity"] == pytest.approx(r["score"])  # no freshness or category rule: score = similarity
        assert e["terms"] and all(set(t) == {"term", "contribution"} for t in e["terms"])
        contributions = [t["contribution"] for t in e["terms"]]
        assert all(c > 0 for c in contributions) and contributions == sorted(contributions, reverse=True)
        assert sum(contributions) + e["semantic"] <= e["similarity"] + 1e-4
        other = corpus[r["id"]]
        assert set(e["shared_tags"]) == {t for t in other.tags if t.lower() in {q.lower() for q in query.tags}}
        assert e["same_category"] is (other.category == query.category)


# --- dedup, on the sample corpus plus a syndicated copy -------------------------------------------


@pytest.fixture(scope="module")
def syndicated(tmp_path_factory: pytest.TempPathFactory, sample_models_dir: Path) -> tuple[Path, str, str]:
    """The sample corpus plus a wire copy of the space station story's best neighbour, trained and published."""
    sample = create_app(Settings(models_dir=str(sample_models_dir)), watch=False).test_client()
    original = sample.get(f"{URL}?limit=1").get_json()["related"][0]["id"]
    rows = [json.loads(line) for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    copy = dict(next(r for r in rows if r["id"] == original), id=f"{original}-wire")
    path = tmp_path_factory.mktemp("syndicated") / "articles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, copy]), encoding="utf-8")
    models_dir = path.parent / "models"
    train_and_publish(path, models_dir, top_k=50)
    return models_dir, original, copy["id"]


def test_dedup_drops_a_syndicated_copy_unless_disabled(syndicated: tuple[Path, str, str]) -> None:
    models_dir, original, copy = syndicated
    client = create_app(Settings(models_dir=str(models_dir)), watch=False).test_client()
    deduped = _get(client, "limit=10")
    assert len({original, copy} & set(_ids(deduped))) == 1
    assert deduped["count"] == 10
    both = _get(client, "limit=10&dedup=false")
    assert {original, copy} <= set(_ids(both))
    assert _ids(_get(client, "limit=10&dedup=true")) == _ids(deduped)


# --- bad values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("min_score=2", "min_score"),
        ("min_score=abc", "min_score"),
        ("min_score=-0.1", "min_score"),
        ("diversity=-1", "diversity"),
        ("diversity=1.5", "diversity"),
        ("max_age_days=0", "max_age_days"),
        ("max_age_days=abc", "max_age_days"),
        ("half_life_days=-5", "half_life_days"),
        ("half_life_days=nan", "half_life_days"),
        ("category=nope", "category"),
        ("lang=fr", "lang"),
        ("explain=maybe", "explain"),
        ("dedup=perhaps", "dedup"),
        ("limit=0", "limit"),
    ],
)
def test_bad_option_values_are_400s_naming_the_parameter(client, query: str, name: str) -> None:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert name in error["message"]


# --- cache keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        "limit=6",
        "exclude=shenzhou-crews-complete-handover-aboard-tiangong",
        "exclude=no-such-story",
        "min_score=0.2",
        "dedup=false",
        "max_age_days=200",
        "half_life_days=30",
        "diversity=0.5",
        "category=same",
        "category=prefer",
        "lang=any",
        "exclude_category=space",
        "fallback=recent",
        "explain=true",
    ],
)
def test_every_option_is_part_of_the_cache_key(client, option: str) -> None:
    base = f"{URL}?limit=5"
    assert client.get(base).headers["X-Cache"] == "miss"
    assert client.get(base).headers["X-Cache"] == "hit"
    varied = f"{base}&{option}".replace("limit=5&limit=6", "limit=6")
    first = client.get(varied)
    assert first.status_code == 200
    assert first.headers["X-Cache"] == "miss"
    assert client.get(varied).headers["X-Cache"] == "hit"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("exclude=a,b", "exclude=b,a"),
        ("exclude=" + ",".join(MANY_IDS), "exclude=" + ",".join(reversed(MANY_IDS))),
        ("exclude=a,b&limit=5", "limit=5&exclude=a,b"),
        ("category=prefer&diversity=0.5&explain=true", "explain=true&category=prefer&diversity=0.5"),
        ("limit=5&min_score=0.10", "min_score=0.1&limit=5"),
    ],
)
def test_option_order_does_not_change_the_cache_key(client, first: str, second: str) -> None:
    one, two = client.get(f"{URL}?{first}"), client.get(f"{URL}?{second}")
    assert (one.headers["X-Cache"], two.headers["X-Cache"]) == ("miss", "hit")
    assert one.get_json() == two.get_json()

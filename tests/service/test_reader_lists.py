"""Learned lists, exploration and experiment arms as the service serves them (Flask test client)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publishing.learned import LearnedLists, write_learned
from recommender import artifacts
from recommender.reader_evidence import LearnedList, Move
from service import create_app
from service.api.reader_lists import LEARNED_ARM, MODEL_ARM, arm_of
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS


def make_app(models_dir: Path, **settings):
    return create_app(Settings(models_dir=str(models_dir), log_level="WARNING", **settings), watch=False)


def full_lists(client, count: int) -> dict[str, list[str]]:
    """`count` articles whose default list holds 10 stories, with those lists."""
    found = {}
    for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines():
        article_id = json.loads(line)["id"]
        ids = [s["id"] for s in client.get(f"/v1/articles/{article_id}/related").get_json()["related"]]
        if len(ids) == 10:
            found[article_id] = ids
        if len(found) == count:
            return found
    raise AssertionError("the sample has too few full lists")


def publish_reversed(models_dir: Path, lists: dict[str, list[str]]) -> None:
    """Learned lists that reverse the model's order (as `relatedly learn` would hand them over)."""
    version = artifacts.read_current(models_dir)
    learned = {a: LearnedList(tuple(reversed(ids)), tuple(0.5 for _ in ids), {ids[-1]: Move(10, 500, 60, 5.0, 11.2)})
               for a, ids in lists.items()}
    write_learned(models_dir, LearnedLists(version, 10, learned, {"articles": 156, "changed": len(learned)}))


def test_exploration_fills_the_last_slot_from_further_down_and_is_never_cached(models_dir: Path) -> None:
    article_id, model_list = next(iter(full_lists(make_app(models_dir).test_client(), 1).items()))
    client = make_app(models_dir, explore_share=0.5).test_client()
    seen = {"explored": 0, "plain": 0}
    for path in (f"/v1/articles/{article_id}/related", f"/v1/articles/{article_id}/related?limit=5"):
        for _ in range(40):
            response = client.get(path)
            stories = response.get_json()["related"]
            if stories[-1].get("explored"):
                seen["explored"] += 1
                assert response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers
                assert stories[-1]["id"] not in model_list[: len(stories)]
                assert [s["id"] for s in stories[:-1]] == model_list[: len(stories) - 1]
                assert not any(s.get("explored") for s in stories[:-1])
            else:
                seen["plain"] += 1
                assert response.headers["Cache-Control"].startswith("public") and response.headers["ETag"]
                assert [s["id"] for s in stories] == model_list[: len(stories)]
    assert seen["explored"] >= 20 and seen["plain"] >= 20
    fragments = [client.get(f"/v1/articles/{article_id}/related.html") for _ in range(30)]
    explored = [f for f in fragments if b"data-relatedly-explored" in f.data]
    assert explored and all(f.headers["Cache-Control"] == "no-store" for f in explored)
    assert explored[0].data.count(b'data-relatedly-explored="true"') == 1


def test_without_exploration_nothing_is_explored(client) -> None:
    body = client.get("/v1/articles/china-space-station-opens-to-international-crews/related").get_json()
    assert not any("explored" in s for s in body["related"]) and "arm" not in body


def test_an_experiment_serves_each_arm_its_lists_and_says_which(models_dir: Path) -> None:
    settings = {"experiment": "learning"}
    lists = full_lists(make_app(models_dir).test_client(), 12)
    app = make_app(models_dir, **settings)
    client = app.test_client()
    arms = {a: arm_of(Settings(**settings), a) for a in lists}
    assert set(arms.values()) == {LEARNED_ARM, MODEL_ARM}
    publish_reversed(models_dir, lists)
    app.extensions["relatedly_learned"].refresh(app.extensions["relatedly"].store)
    for article_id, model_list in lists.items():
        for query, size in (("", 10), ("?limit=5", 5)):
            body = client.get(f"/v1/articles/{article_id}/related{query}").get_json()
            assert body["arm"] == arms[article_id]
            expected = list(reversed(model_list)) if arms[article_id] == LEARNED_ARM else model_list
            assert [s["id"] for s in body["related"]] == expected[:size]
        fragment = client.get(f"/v1/articles/{article_id}/related.html").data.decode()
        assert f'data-relatedly-arm="{arms[article_id]}"' in fragment
    learned = next(a for a, arm in arms.items() if arm == LEARNED_ARM)
    explained = client.get(f"/v1/articles/{learned}/related?explain=true").get_json()["related"]
    assert explained[0]["explanation"]["reader_evidence"] == {
        "moved": True, "model_position": 10, "impressions": 500, "clicks": 60, "expected_clicks": 5.0, "ratio": 11.2}
    assert "reader_evidence" not in explained[1]["explanation"]


def test_arms_are_stable_for_a_day_and_split_the_articles() -> None:
    settings = Settings(experiment="learning")
    ids = [f"article-{i}" for i in range(2000)]
    today = [arm_of(settings, a) for a in ids]
    assert today == [arm_of(settings, a) for a in ids]
    assert 0.45 < today.count(LEARNED_ARM) / len(ids) < 0.55
    assert arm_of(Settings(), ids[0]) is None


@pytest.mark.parametrize("environ", [{"RELATEDLY_EXPLORE_SHARE": "0.9"}, {"RELATEDLY_EXPERIMENT": "colours"},
                                     {"RELATEDLY_EXPLORE_SHARE": "some"}])
def test_bad_learning_settings_are_refused(environ: dict[str, str]) -> None:
    from service.config import ConfigError

    with pytest.raises(ConfigError):
        Settings.from_env(environ)


def test_a_damaged_learned_file_keeps_the_lists_and_shows_in_readyz(models_dir: Path) -> None:
    app = make_app(models_dir)
    client = app.test_client()
    lists = full_lists(client, 2)
    publish_reversed(models_dir, lists)
    learned_store, store = app.extensions["relatedly_learned"], app.extensions["relatedly"].store
    assert learned_store.refresh(store)
    article_id, model_list = next(iter(lists.items()))
    assert [s["id"] for s in client.get(f"/v1/articles/{article_id}/related").get_json()["related"]] == list(
        reversed(model_list))
    path = models_dir / "learned" / f"{artifacts.read_current(models_dir)}.json"
    path.write_text("{not json", encoding="utf-8")
    (models_dir / "learned.revision").write_bytes(b"\x01" * 8)
    assert learned_store.refresh(store)
    assert [s["id"] for s in client.get(f"/v1/articles/{article_id}/related").get_json()["related"]] == list(
        reversed(model_list))
    assert "not a learned-lists file" in client.get("/readyz").get_json()["learning"]["error"]

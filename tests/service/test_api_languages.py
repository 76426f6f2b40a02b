"""A mixed-language site through the API: default lists (precomputed) and text queries stay within the
story's language; `lang=any` lets them cross."""

from __future__ import annotations

import json

import pytest

from publishing.train import train_and_publish
from service import create_app
from service.config import Settings
from tests.recommender.test_languages import FIXTURE, TESLA


@pytest.fixture(scope="module")
def site_client(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("mixed")
    corpus = directory / "articles.jsonl"
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    lines += [json.dumps({"id": a.id, "title": a.title, "body": a.body}, ensure_ascii=False) for a in TESLA]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_and_publish(corpus, directory / "models", top_k=20, jobs=1)
    app = create_app(Settings(models_dir=str(directory / "models")), watch=False)
    return app.test_client(), [json.loads(line)["id"] for line in lines]


def _language(article_id: str) -> str:
    return article_id.split("-")[0]


def test_no_default_list_holds_a_story_in_another_language(site_client) -> None:
    client, ids = site_client
    listed = 0
    for article_id in ids:
        response = client.get(f"/v1/articles/{article_id}/related")
        assert response.status_code == 200 and response.headers["X-Cache"] == "precomputed"
        stories = [r["id"] for r in response.get_json()["related"]]
        assert all(_language(s) == _language(article_id) for s in stories), article_id
        listed += len(stories)
    assert listed >= len(ids)
    crossing = client.get("/v1/articles/de-tesla-0/related?lang=any&limit=5").get_json()["related"]
    assert {"en-tesla-0", "en-tesla-1"} <= {r["id"] for r in crossing}


def test_a_text_query_is_listed_in_its_language(site_client) -> None:
    client, _ = site_client
    text = {"title": "Elon Musk opens a new hall in Grünheide",
            "body": "The Tesla Gigafactory in Grünheide opened a new hall for the Model Y on Monday, said Elon Musk."}
    english = client.post("/v1/related", json=text).get_json()["related"]
    assert {r["id"] for r in english} == {"en-tesla-0", "en-tesla-1"}
    german = client.post("/v1/related", json={**text, "article_lang": "de-DE"}).get_json()["related"]
    assert {r["id"] for r in german} == {"de-tesla-0", "de-tesla-1"}
    bad = client.post("/v1/related", json={**text, "article_lang": "Deutsch!"})
    assert bad.status_code == 400 and "article_lang" in bad.get_json()["error"]["message"]

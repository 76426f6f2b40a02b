"""`GET /v1/related?url=`: the page's URL, however decorated, finds the article; same body, cache and ETag."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from publishing.train import train_and_publish
from service import create_app
from service.config import Settings
from tests.conftest import SPACE_STATION_ID
from tests.service.test_openapi import _validate

FIXTURES = Path(__file__).parents[1] / "recommender" / "fixtures" / "exports"
STATION_URL = f"https://news.example.org/spaceflight/{SPACE_STATION_ID}"
DECORATED = f"http://WWW.news.example.org/spaceflight/{SPACE_STATION_ID}/?utm_source=newsletter&fbclid=abc#comments"


@pytest.fixture()
def spec(client) -> dict:
    return client.get("/openapi.json").get_json()


def by_url(client, url: str, **params: str):
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return client.get(f"/v1/related?url={quote(url, safe='')}" + (f"&{query}" if query else ""))


def test_a_decorated_url_gets_the_same_answer_as_the_id(client) -> None:
    by_id = client.get(f"/v1/articles/{SPACE_STATION_ID}/related")
    found = by_url(client, DECORATED)
    assert found.status_code == 200
    assert found.get_json()["article_id"] == SPACE_STATION_ID
    assert found.data == by_id.data and found.headers["ETag"] == by_id.headers["ETag"]
    assert by_id.headers["X-Cache"] == "precomputed"  # the id's default list is the version's stored one
    assert by_url(client, DECORATED).headers["X-Cache"] == "hit"  # the URL's list is cached like any other


def test_options_apply_and_share_the_cache_of_the_id_route(client) -> None:
    found = by_url(client, STATION_URL, limit="3", explain="true")
    assert found.status_code == 200 and found.headers["X-Cache"] == "miss"
    assert found.get_json()["count"] == 3 and "explanation" in found.get_json()["related"][0]
    by_id = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3&explain=true")
    assert by_id.headers["X-Cache"] == "hit" and by_id.data == found.data


def test_if_none_match_gets_304(client) -> None:
    etag = by_url(client, STATION_URL).headers["ETag"]
    again = client.get(f"/v1/related?url={quote(STATION_URL)}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "invalid_parameter"),
        ("?url=", 400, "invalid_parameter"),
        ("?url=https%3A%2F%2Fnews.example.org%2Fnot-an-article", 404, "article_not_found"),
        (f"?url={quote(STATION_URL)}&limit=0", 400, "invalid_parameter"),
    ],
)
def test_errors_are_json(client, spec, query: str, status: int, code: str) -> None:
    response = client.get(f"/v1/related{query}")
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    _validate(spec, "/v1/related", "get", response)


def test_the_answer_matches_the_spec(client, spec) -> None:
    _validate(spec, "/v1/related", "get", by_url(client, DECORATED, explain="true"))


@pytest.fixture(scope="module")
def export_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained straight from the committed WordPress export (two split parts)."""
    models_dir = tmp_path_factory.mktemp("export-models")
    parts = [FIXTURES / "wxr-part1.xml", FIXTURES / "wxr-part2.xml"]
    train_and_publish(parts, models_dir, top_k=4, skip_invalid=True)
    return models_dir


def test_an_exported_site_serves_clean_titles_and_images(export_models: Path, spec) -> None:
    client = create_app(Settings(models_dir=str(export_models)), watch=False).test_client()
    response = by_url(client, "https://www.reefnotes.example/2023/11/kelp-forests?utm_campaign=x", min_score="0",
                      lang="any")  # 103 is in German (its Polylang term)
    assert response.status_code == 200
    body = response.get_json()
    assert body["article_id"] == "102"
    items = {item["id"]: item for item in body["related"]}
    assert items["101"]["title"] == "Café & science: coral “bleaching” explained"
    assert items["101"]["image"] == "https://reefnotes.example/wp-content/uploads/2024/03/reef.jpg"
    assert items["105"]["image"] == "https://reefnotes.example/wp-content/uploads/2024/02/turtle.jpg"
    assert "image" not in items["103"]
    _validate(spec, "/v1/related", "get", response)

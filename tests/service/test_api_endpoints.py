"""The rest of the public API through the Flask test client: text queries, batches, article metadata,
request ids, HTTP caching (ETag, Cache-Control), CORS and the short TTL of empty lists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis

from service import create_app
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID

SPACEFLIGHT_DRAFT = {
    "title": "Astronauts dock with the space station for a six-month crew rotation",
    "body": "A crew of four astronauts docked with the orbiting space station after a day-long flight and began "
            "a six-month rotation of microgravity research, spacewalks and station maintenance. The flurbotronic "
            "experiment they carry has never been flown before.",
    "tags": ["space station", "astronauts"],
}
OTHER_ID = "bursts-of-sleep-spindles-help-lock-in-new-memories"
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def corpus() -> dict[str, dict[str, Any]]:
    """The raw rows of the sample corpus, by id (the source of truth for categories and metadata)."""
    rows = (json.loads(line) for line in SAMPLE_CORPUS.read_text().splitlines() if line.strip())
    return {row["id"]: row for row in rows}


def post_related(client, payload: Any, **kwargs: Any):
    return client.post("/v1/related", json=payload, **kwargs)


def related_ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["related"]]


# --- POST /v1/related -------------------------------------------------------------------------------------------


def test_text_query_returns_the_documented_shape(client) -> None:
    response = post_related(client, {**SPACEFLIGHT_DRAFT, "limit": 4})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["model_version", "limit", "count", "related"]
    assert body["model_version"] == response.headers["X-Model-Version"]
    assert (body["limit"], body["count"], len(body["related"])) == (4, 4, 4)
    assert set(body["related"][0]) == {"id", "title", "url", "published_at", "score", "source"}
    scores = [item["score"] for item in body["related"]]
    assert scores == sorted(scores, reverse=True)


def test_a_spaceflight_draft_gets_spaceflight_stories_first(client, corpus) -> None:
    body = post_related(client, {**SPACEFLIGHT_DRAFT, "limit": 5}).get_json()
    assert [corpus[i]["category"] for i in related_ids(body)] == ["spaceflight"] * 5


def test_article_category_and_published_at_are_accepted(client, corpus) -> None:
    payload = {**SPACEFLIGHT_DRAFT, "article_category": "spaceflight", "published_at": "2025-06-13T09:30:00",
               "category": "same", "limit": 5}
    response = post_related(client, payload)
    assert response.status_code == 200
    assert {corpus[i]["category"] for i in related_ids(response.get_json())} == {"spaceflight"}


def test_a_text_query_never_refits_the_model(app, client) -> None:
    loaded = app.extensions["relatedly"].store.current()
    vocabulary_before = loaded.model.vectorizer_.vocabulary_size
    assert post_related(client, SPACEFLIGHT_DRAFT).status_code == 200  # "flurbotronic" is in no article
    assert app.extensions["relatedly"].store.current() is loaded
    assert loaded.model.vectorizer_.vocabulary_size == vocabulary_before


def test_text_results_are_cached_but_never_by_http_caches(client) -> None:
    first, second = post_related(client, SPACEFLIGHT_DRAFT), post_related(client, SPACEFLIGHT_DRAFT)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.get_data() == second.get_data()
    assert first.headers["Cache-Control"] == second.headers["Cache-Control"] == "no-store"
    assert "ETag" not in first.headers


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Astronauts dock with the space station"},
        {"body": "A different body about a rocket launch."},
        {"tags": ["space station"]},
        {"article_category": "spaceflight"},
        {"published_at": "2025-01-01"},
        {"limit": 3},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changing_the_request_misses_the_cache(client, change: dict[str, Any]) -> None:
    assert post_related(client, SPACEFLIGHT_DRAFT).headers["X-Cache"] == "miss"
    assert post_related(client, {**SPACEFLIGHT_DRAFT, **change}).headers["X-Cache"] == "miss"


def test_a_non_json_body_is_415(client) -> None:
    response = client.post("/v1/related", data="title=Rockets", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("raw", ['["title", "body"]', '{"title": "unterminated', "42"])
def test_a_body_that_is_not_a_json_object_is_400_invalid_json(client, raw: str) -> None:
    response = client.post("/v1/related", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": 42, "body": "Rockets."}, "title"),
        ({"title": "Rockets", "body": ["not", "a", "string"]}, "body"),
        ({"title": "Rockets", "body": "Rockets.", "tags": "space station"}, "tags"),
        ({"title": "Rockets", "body": "Rockets.", "tags": ["space", 7]}, "tags"),
        ({"title": "Rockets", "body": "Rockets.", "tags": ""}, "tags"),
        ({"title": "", "body": "   "}, "title or body"),
        ({}, "title or body"),
        ({"title": "Rockets", "body": "Rockets.", "published_at": "yesterday"}, "published_at"),
        ({"title": "Rockets", "body": "Rockets.", "published_at": "2025-13-45"}, "published_at"),
        ({"title": "Rockets", "body": "Rockets.", "published_at": 20250101}, "published_at"),
        ({"title": "Rockets", "body": "Rockets.", "article_category": 3}, "article_category"),
        ({"title": "Rockets", "body": "Rockets.", "limit": 0}, "limit"),
    ],
    ids=["title-number", "body-list", "tags-string", "tags-number-item", "tags-empty-string", "blank-text",
         "no-text", "published_at-word", "published_at-impossible-date", "published_at-number",
         "article_category-number", "limit-zero"],
)
def test_bad_text_query_fields_are_400s_naming_the_field(client, payload: dict[str, Any], field: str) -> None:
    response = post_related(client, payload)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["message"].startswith(field)


def test_text_in_the_body_only_is_enough_even_with_a_blank_title(client) -> None:
    response = post_related(client, {"title": "  ", "body": SPACEFLIGHT_DRAFT["body"]})
    assert response.status_code == 200
    assert response.get_json()["count"] > 0


def test_a_body_over_the_configured_limit_is_413_json(sample_models_dir: Path) -> None:
    small = create_app(Settings(models_dir=str(sample_models_dir), max_body_bytes=2048), watch=False).test_client()
    assert post_related(small, {"title": "Rockets", "body": "x" * 1500}).status_code == 200
    response = post_related(small, {"title": "Rockets", "body": "x" * 3000})
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "payload_too_large"


# --- POST /v1/related:batch -------------------------------------------------------------------------------------


def test_batch_answers_in_request_order_and_fails_only_unknown_items(client) -> None:
    ids = [OTHER_ID, "no-such-article", SPACE_STATION_ID]
    response = client.post("/v1/related:batch", json={"ids": ids, "limit": 3})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == response.headers["X-Model-Version"]
    assert [entry["article_id"] for entry in body["results"]] == ids
    known, unknown, space = body["results"]
    assert unknown["error"]["code"] == "article_not_found"
    assert "no-such-article" in unknown["error"]["message"]
    assert "related" not in unknown
    assert (known["count"], len(known["related"]), space["count"], len(space["related"])) == (3, 3, 3, 3)
    assert SPACE_STATION_ID not in related_ids(space)


def test_a_batch_item_equals_the_get_list_and_shares_its_cache_entry(client) -> None:
    batch = client.post("/v1/related:batch", json={"ids": [SPACE_STATION_ID, OTHER_ID], "limit": 5}).get_json()
    single = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=5")
    assert single.headers["X-Cache"] == "hit"
    expected = single.get_json()
    expected.pop("model_version")
    assert batch["results"][0] == expected
    assert len(related_ids(expected)) == 5


@pytest.mark.parametrize(
    "payload",
    [
        {"ids": [SPACE_STATION_ID] * 101},
        {"ids": []},
        {"ids": [SPACE_STATION_ID, 7]},
        {"ids": SPACE_STATION_ID},
        {},
        {"ids": [SPACE_STATION_ID], "limit": "many"},
    ],
    ids=["101-ids", "empty", "non-string", "string", "missing", "bad-limit"],
)
def test_bad_batches_are_400(client, payload: dict[str, Any]) -> None:
    response = client.post("/v1/related:batch", json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_a_batch_of_exactly_100_ids_is_allowed(client) -> None:
    response = client.post("/v1/related:batch", json={"ids": [SPACE_STATION_ID] * 100, "limit": 1})
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 100


# --- GET /v1/articles/<id> --------------------------------------------------------------------------------------


def test_article_metadata_is_what_the_corpus_says(client, corpus) -> None:
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == response.headers["X-Model-Version"]
    article, row = body["article"], corpus[SPACE_STATION_ID]
    assert set(article) == {"id", "title", "url", "published_at", "tags", "category"}
    assert (article["id"], article["title"], article["url"]) == (row["id"], row["title"], row["url"])
    assert (article["tags"], article["category"]) == (row["tags"], row["category"])
    assert article["published_at"].startswith(row["published_at"])


def test_unknown_article_metadata_is_404(client) -> None:
    response = client.get("/v1/articles/no-such-article")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "article_not_found"


def test_the_metadata_route_does_not_shadow_related(client) -> None:
    body = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=2").get_json()
    assert body["article_id"] == SPACE_STATION_ID
    assert len(body["related"]) == 2


# --- headers on every response ----------------------------------------------------------------------------------


EVERY_KIND_OF_RESPONSE = [
    ("get", f"/v1/articles/{SPACE_STATION_ID}/related", None, 200),
    ("get", f"/v1/articles/{SPACE_STATION_ID}", None, 200),
    ("post", "/v1/related", SPACEFLIGHT_DRAFT, 200),
    ("post", "/v1/related:batch", {"ids": [SPACE_STATION_ID]}, 200),
    ("get", "/healthz", None, 200),
    ("get", "/v1/articles/no-such-article/related", None, 404),
    ("get", "/v1/articles/no-such-article", None, 404),
    ("get", f"/v1/articles/{SPACE_STATION_ID}/related?limit=abc", None, 400),
    ("post", "/v1/related", ["not", "an", "object"], 400),
    ("get", "/v1/nothing-here", None, 404),
    ("delete", f"/v1/articles/{SPACE_STATION_ID}/related", None, 405),
]


@pytest.mark.parametrize(("method", "path", "payload", "status"), EVERY_KIND_OF_RESPONSE)
def test_every_response_names_the_model_and_the_request(app, client, method, path, payload, status) -> None:
    response = getattr(client, method)(path, json=payload)
    assert response.status_code == status
    assert response.headers["X-Model-Version"] == app.extensions["relatedly"].store.current().version
    assert GENERATED_REQUEST_ID.match(response.headers["X-Request-ID"])


@pytest.mark.parametrize(("method", "path", "payload", "status"), EVERY_KIND_OF_RESPONSE)
def test_an_incoming_request_id_is_echoed(client, method, path, payload, status) -> None:
    response = getattr(client, method)(path, json=payload, headers={"X-Request-ID": "edge-7f3a.b:c_d"})
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "edge-7f3a.b:c_d"


@pytest.mark.parametrize("incoming", ["has spaces in it", "a" * 300, "semi;colon", "<script>"])
def test_a_malformed_request_id_is_replaced(client, incoming: str) -> None:
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != incoming
    assert GENERATED_REQUEST_ID.match(response.headers["X-Request-ID"])


def test_generated_request_ids_differ_per_request(client) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


# --- HTTP caching -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [f"/v1/articles/{SPACE_STATION_ID}/related?limit=4", f"/v1/articles/{SPACE_STATION_ID}"]
)
def test_successful_gets_are_cacheable_and_conditional(client, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    assert etag
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    stale = client.get(path, headers={"If-None-Match": '"not-the-etag"'})
    assert stale.status_code == 200
    assert stale.get_data() == first.get_data()


def test_a_different_limit_gives_a_different_etag(client) -> None:
    url = f"/v1/articles/{SPACE_STATION_ID}/related"
    three, four = client.get(f"{url}?limit=3"), client.get(f"{url}?limit=4")
    assert three.headers["ETag"] != four.headers["ETag"]
    assert client.get(f"{url}?limit=4", headers={"If-None-Match": three.headers["ETag"]}).status_code == 200


def test_max_age_follows_the_settings(sample_models_dir: Path) -> None:
    app = create_app(Settings(models_dir=str(sample_models_dir), http_max_age_seconds=42), watch=False)
    response = app.test_client().get(f"/v1/articles/{SPACE_STATION_ID}/related")
    assert response.headers["Cache-Control"] == "public, max-age=42"


def test_errors_are_not_publicly_cacheable(client) -> None:
    response = client.get("/v1/articles/no-such-article/related")
    assert response.status_code == 404
    assert "public" not in response.headers.get("Cache-Control", "")
    assert "ETag" not in response.headers


# --- CORS -------------------------------------------------------------------------------------------------------


def cors_client(sample_models_dir: Path, origins: tuple[str, ...]):
    return create_app(Settings(models_dir=str(sample_models_dir), cors_origins=origins), watch=False).test_client()


def cors_headers(response) -> list[str]:
    return [name for name, _ in response.headers.items() if name.startswith("Access-Control-")]


def vary(response) -> set[str]:
    return {part.strip() for value in response.headers.getlist("Vary") for part in value.split(",")}


def test_cors_allows_a_configured_origin(sample_models_dir: Path) -> None:
    client = cors_client(sample_models_dir, ("https://site.example",))
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related", headers={"Origin": "https://site.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert "Origin" in vary(response)
    assert "X-Model-Version" in response.headers["Access-Control-Expose-Headers"]


def test_cors_ignores_other_origins(sample_models_dir: Path) -> None:
    client = cors_client(sample_models_dir, ("https://site.example",))
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert cors_headers(response) == []


@pytest.mark.parametrize("headers", [{}, {"Origin": "https://evil.example"}], ids=["no-origin", "other-origin"])
def test_publicly_cacheable_responses_vary_on_origin_whatever_the_origin(sample_models_dir: Path, headers) -> None:
    """A CDN must not store the header-less answer and replay it to the allowed site (Fetch spec, CORS and caches)."""
    client = cors_client(sample_models_dir, ("https://site.example",))
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related", headers=headers)
    assert response.headers["Cache-Control"].startswith("public")
    assert "Origin" in vary(response)


def test_cors_preflight_for_a_text_query(sample_models_dir: Path) -> None:
    client = cors_client(sample_models_dir, ("https://site.example",))
    response = client.options("/v1/related", headers={
        "Origin": "https://site.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type",
    })
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert "POST" in {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()


def test_cors_wildcard_allows_any_origin(sample_models_dir: Path) -> None:
    client = cors_client(sample_models_dir, ("*",))
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}", headers={"Origin": "https://anywhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_without_cors_origins_there_are_no_cors_headers(client) -> None:
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}", headers={"Origin": "https://site.example"})
    preflight = client.options("/v1/related", headers={
        "Origin": "https://site.example", "Access-Control-Request-Method": "POST"})
    assert cors_headers(response) == cors_headers(preflight) == []


# --- empty lists are cached briefly -----------------------------------------------------------------------------


def test_empty_lists_are_cached_with_the_short_ttl(sample_models_dir: Path, redis_url: str, cache_prefix: str) -> None:
    app = create_app(Settings(models_dir=str(sample_models_dir), redis_url=redis_url, cache_prefix=cache_prefix,
                              cache_empty_ttl_seconds=7), watch=False)
    client, server = app.test_client(), redis.Redis.from_url(redis_url)

    def new_key_after(request) -> tuple[dict[str, Any], bytes]:
        before = set(server.scan_iter(f"{cache_prefix}:*"))
        body = request().get_json()
        (key,) = set(server.scan_iter(f"{cache_prefix}:*")) - before
        return body, key

    url = f"/v1/articles/{SPACE_STATION_ID}/related"
    empty, empty_key = new_key_after(lambda: client.get(f"{url}?min_score=1"))
    full, full_key = new_key_after(lambda: client.get(f"{url}?limit=3"))
    no_match, no_match_key = new_key_after(lambda: post_related(client, {"title": "qwzx", "body": "vvvv jjjj"}))
    assert (empty["count"], full["count"], no_match["count"]) == (0, 3, 0)
    assert 0 < server.ttl(empty_key) <= 7
    assert 0 < server.ttl(no_match_key) <= 7
    assert server.ttl(full_key) > 7

"""Default lists rendered by the service: the WSGI layer in front of Flask answers exactly what the route would.

The route's own answer is had by asking with the default options spelled out (`?limit=10`, computed by
the model through the cache); a counting wrapper around the Flask WSGI app shows which one answered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publishing.train import train_and_publish
from recommender import artifacts
from service import create_app
from service.config import Settings
from storage.overrides import set_pins
from tests.conftest import SPACE_STATION_ID
from tests.service.test_ops import RELATED_RULE, delta, scrape

URL = f"/v1/articles/{SPACE_STATION_ID}/related"
SPELLED_OUT = "?limit=10"  # the default options given explicitly: the route computes the list
PER_REQUEST_HEADERS = {"X-Request-ID", "X-Cache"}


class CountingFlask:
    """Wraps the Flask WSGI app behind the default-list layer and counts the requests that reach it."""

    def __init__(self, app) -> None:
        self.calls = 0
        self.flask_wsgi = app.wsgi_app.flask_wsgi
        app.wsgi_app.flask_wsgi = self

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.flask_wsgi(environ, start_response)


def make_client(sample_models_dir: Path, **settings):
    app = create_app(Settings(models_dir=str(sample_models_dir), **settings), watch=False)
    return app.test_client(), CountingFlask(app)


def comparable(response) -> tuple[int, bytes, dict[str, str]]:
    headers = {name: value for name, value in response.headers.items() if name not in PER_REQUEST_HEADERS}
    return response.status_code, response.get_data(), headers


@pytest.mark.parametrize(
    ("cors_origins", "request_headers"),
    [
        ((), {}),
        (("https://site.example",), {"Origin": "https://site.example"}),
        (("https://site.example",), {"Origin": "https://elsewhere.example"}),
        (("https://site.example",), {}),
        (("*",), {"Origin": "https://anyone.example"}),
    ],
    ids=["no-cors", "allowed-origin", "other-origin", "no-origin", "any-origin"],
)
def test_a_precomputed_list_answers_exactly_as_flask_does(sample_models_dir: Path, cors_origins,
                                                          request_headers) -> None:
    client, flask = make_client(sample_models_dir, cors_origins=cors_origins)
    from_flask = client.get(URL + SPELLED_OUT, headers=request_headers)
    assert (flask.calls, from_flask.headers["X-Cache"]) == (1, "miss")
    precomputed = client.get(URL, headers=request_headers)
    assert (flask.calls, precomputed.headers["X-Cache"]) == (1, "precomputed")
    assert comparable(precomputed) == comparable(from_flask)
    assert from_flask.status_code == 200 and from_flask.get_json()["related"]


def test_every_precomputed_list_is_the_flask_routes(sample_models_dir: Path) -> None:
    fast, fast_flask = make_client(sample_models_dir)
    slow, _ = make_client(sample_models_dir, memory_cache_size=0)
    model, _ = artifacts.load_version(sample_models_dir, artifacts.read_current(sample_models_dir))
    ids = model.catalog_.to_columns()["ids"]
    for article_id in ids:
        url = f"/v1/articles/{article_id}/related"
        assert fast.get(url).get_data() == slow.get(url + SPELLED_OUT).get_data(), article_id
    assert fast_flask.calls == 0


def test_lists_of_stories_with_images_and_accents_are_the_flask_routes(tmp_path: Path) -> None:
    """The rendered lists are joined from pieces of JSON around each score: a story's `image` (written after
    `source`) and non-ASCII titles must come out as the route encodes them."""
    exports = Path(__file__).parents[1] / "recommender" / "fixtures" / "exports"
    train_and_publish([exports / "wxr-part1.xml", exports / "wxr-part2.xml"], tmp_path, top_k=4, skip_invalid=True)
    fast, fast_flask = make_client(tmp_path)
    slow, _ = make_client(tmp_path, memory_cache_size=0)
    model, _ = artifacts.load_version(tmp_path, artifacts.read_current(tmp_path))
    bodies = []
    for article_id in model.catalog_.to_columns()["ids"]:
        url = f"/v1/articles/{article_id}/related"
        bodies.append(fast.get(url).get_data())
        assert bodies[-1] == slow.get(url + "?limit=4").get_data(), article_id
    assert fast_flask.calls == 0
    assert any(b'"image":' in body for body in bodies) and any("é".encode() in body for body in bodies)


@pytest.mark.parametrize("default_limit", [7, 10, 50, 80])
def test_any_default_limit_is_precomputed(sample_models_dir: Path, default_limit: int) -> None:
    client, flask = make_client(sample_models_dir, default_limit=default_limit)
    precomputed = client.get(URL)
    from_flask = client.get(URL + f"?limit={min(default_limit, 50)}")
    assert (flask.calls, precomputed.headers["X-Cache"]) == (1, "precomputed")
    assert precomputed.get_data() == from_flask.get_data()
    assert precomputed.get_json()["limit"] == min(default_limit, 50)


def test_a_version_saved_without_default_lists_is_precomputed_at_load(models_dir: Path,
                                                                      sample_models_dir: Path) -> None:
    manifest_path = models_dir / artifacts.VERSIONS / artifacts.read_current(models_dir) / artifacts.MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["default_lists"]  # as the versions written before the lists were
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    client, flask = make_client(models_dir)
    answer = client.get(URL)
    assert (flask.calls, answer.headers["X-Cache"]) == (0, "precomputed")
    assert comparable(answer) == comparable(make_client(sample_models_dir)[0].get(URL))


def test_editorial_pins_replace_the_rendered_list_without_a_new_version(models_dir: Path) -> None:
    client, flask = make_client(models_dir)
    parts = client.application.extensions["relatedly"]
    before = client.get(URL).get_json()
    listed = {story["id"] for story in before["related"]}
    story = next(a for a in parts.store.current().model.catalog_.to_columns()["ids"]
                 if a not in listed and a != SPACE_STATION_ID)
    parts.overrides.changed(set_pins(parts.database, SPACE_STATION_ID, [story], actor="test"))
    after = client.get(URL)
    assert (after.headers["X-Cache"], flask.calls) == ("precomputed", 0)
    first = after.get_json()["related"][0]
    assert (first["id"], first["source"]) == (story, "pinned")
    assert after.get_json()["model_version"] == before["model_version"]
    assert after.get_data() == client.get(URL + SPELLED_OUT).get_data()
    parts.overrides.changed(set_pins(parts.database, SPACE_STATION_ID, [], actor="test"))
    assert client.get(URL).get_json() == before


def test_replace_swaps_one_articles_list(sample_models_dir: Path) -> None:
    client, _ = make_client(sample_models_dir)
    defaults = client.application.extensions["relatedly"].store.current().defaults
    defaults.replace({SPACE_STATION_ID: b'{"replaced":true}', "no-such-article": b"{}"})
    assert client.get(URL).get_json() == {"replaced": True}
    assert client.get("/v1/articles/no-such-article/related").status_code == 404  # never adds an article


def test_a_matching_etag_gets_the_same_304_from_both(sample_models_dir: Path) -> None:
    client, flask = make_client(sample_models_dir)
    etag = client.get(URL).headers["ETag"]
    from_flask = client.get(URL + SPELLED_OUT, headers={"If-None-Match": etag})
    precomputed = client.get(URL, headers={"If-None-Match": f'W/{etag}, "other"'})
    assert flask.calls == 1
    assert precomputed.status_code == from_flask.status_code == 304
    assert comparable(precomputed) == comparable(from_flask)
    assert client.get(URL, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_request_ids_are_kept_or_made(client) -> None:
    client.get(URL)
    assert client.get(URL, headers={"X-Request-ID": "edge-42"}).headers["X-Request-ID"] == "edge-42"
    made = client.get(URL, headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get(URL).headers["X-Request-ID"]


def test_fast_answers_are_counted_and_logged_like_flask_requests(app, client, log_lines) -> None:
    flask = CountingFlask(app)
    client.get(URL + SPELLED_OUT)
    before = scrape(client)
    client.get(URL, headers={"X-Request-ID": "hit-1"})
    after = scrape(client)
    assert flask.calls == 3  # the bypassed request and two scrapes
    requests = "relatedly_http_requests_total"
    assert delta(before, after, requests, endpoint=RELATED_RULE, method="GET", status="200") == 1
    assert delta(before, after, "relatedly_http_request_duration_seconds_count", endpoint=RELATED_RULE) == 1
    assert delta(before, after, "relatedly_cache_requests_total", result="hit") == 0  # no cache involved
    assert delta(before, after, "relatedly_cache_requests_total", result="miss") == 0
    miss, hit = [line for line in log_lines() if line["event"] == "request" and line["path"].startswith(URL)]
    assert miss["cache"] == "miss"
    assert (hit["status"], hit["cache"], hit["request_id"], hit["method"]) == (200, "precomputed", "hit-1", "GET")
    assert hit["model_version"] == miss["model_version"] == app.extensions["relatedly"].store.current().version
    assert set(hit) == set(miss)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{URL}?limit=3"),  # options: computed through the cache by Flask
        ("HEAD", URL),
        ("POST", URL),  # 405 from Flask
        ("GET", "/v1/articles/no-such-article/related"),  # 404 from Flask
        ("GET", "/v1/articles/%C3%A9t%C3%A9/related"),  # non-ASCII path: Flask decodes it
        ("GET", "/v1/articles//related"),
    ],
)
def test_everything_else_goes_to_flask(client, app, method: str, url: str) -> None:
    flask = CountingFlask(app)
    for _ in range(2):
        client.open(url, method=method)
    assert flask.calls == 2

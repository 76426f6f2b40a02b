"""The WSGI fast path for default-option related lists: it answers exactly what Flask would.

The model's precomputed default-list documents answer any article at once; with a default limit other
than the lists', or for a version saved without the documents, the fast path serves cache hits
instead. Each test gets the Flask route's answer (through the bypass predicate, or a first cache
miss) and the fast path's, and compares the two responses; a counting wrapper around the Flask WSGI
app shows which one answered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import artifacts
from service import create_app
from service.config import Settings
from service.fastpath import set_default_list_bypass
from tests.conftest import SPACE_STATION_ID
from tests.service.test_ops import RELATED_RULE, delta, scrape

URL = f"/v1/articles/{SPACE_STATION_ID}/related"
PER_REQUEST_HEADERS = {"X-Request-ID", "X-Cache"}


class CountingFlask:
    """Wraps the Flask WSGI app behind the fast path and counts the requests that reach it."""

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
    set_default_list_bypass(client.application, lambda article_id: article_id == SPACE_STATION_ID)
    from_flask = client.get(URL, headers=request_headers)
    assert (flask.calls, from_flask.headers["X-Cache"]) == (1, "miss")
    set_default_list_bypass(client.application, None)
    precomputed = client.get(URL, headers=request_headers)
    assert (flask.calls, precomputed.headers["X-Cache"]) == (1, "precomputed")
    assert comparable(precomputed) == comparable(from_flask)
    assert from_flask.status_code == 200 and from_flask.get_json()["related"]


def test_every_precomputed_list_is_the_flask_routes(sample_models_dir: Path) -> None:
    fast, fast_flask = make_client(sample_models_dir)
    slow, _ = make_client(sample_models_dir, memory_cache_size=0)
    set_default_list_bypass(slow.application, lambda article_id: True)
    model, _ = artifacts.load_version(sample_models_dir, artifacts.read_current(sample_models_dir))
    ids = model.catalog_.to_columns()["ids"]
    for article_id in ids:
        url = f"/v1/articles/{article_id}/related"
        assert fast.get(url).get_data() == slow.get(url).get_data(), article_id
    assert fast_flask.calls == 0


def test_a_version_saved_without_the_documents_is_answered_from_the_cache(models_dir: Path,
                                                                         sample_models_dir: Path) -> None:
    manifest_path = models_dir / artifacts.VERSIONS / artifacts.read_current(models_dir) / artifacts.MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["default_lists"]["body_format"]  # as the versions written before the documents were
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    client, flask = make_client(models_dir)
    first, second = client.get(URL), client.get(URL)
    assert (flask.calls, first.headers["X-Cache"], second.headers["X-Cache"]) == (1, "miss", "hit")
    precomputed = make_client(sample_models_dir)[0].get(URL)
    assert precomputed.headers["X-Cache"] == "precomputed"
    assert comparable(second) == comparable(first) == comparable(precomputed)


@pytest.mark.parametrize(
    ("cors_origins", "request_headers"),
    [((), {}), (("https://site.example",), {"Origin": "https://site.example"})],
    ids=["no-cors", "allowed-origin"],
)
def test_a_cached_hit_answers_exactly_as_flask_did(sample_models_dir: Path, cors_origins, request_headers) -> None:
    # A default limit the precomputed lists were not made for: the fast path serves cache hits.
    client, flask = make_client(sample_models_dir, cors_origins=cors_origins, default_limit=7)
    first = client.get(URL, headers=request_headers)
    assert (flask.calls, first.headers["X-Cache"]) == (1, "miss")
    second = client.get(URL, headers=request_headers)
    assert (flask.calls, second.headers["X-Cache"]) == (1, "hit")
    assert comparable(second) == comparable(first)
    assert first.status_code == 200 and first.get_json()["related"]


def test_a_matching_etag_gets_the_same_304_from_both(sample_models_dir: Path) -> None:
    client, flask = make_client(sample_models_dir)
    etag = client.get(URL).headers["ETag"]
    cold, cold_flask = make_client(sample_models_dir)
    set_default_list_bypass(cold.application, lambda article_id: True)
    from_flask = cold.get(URL, headers={"If-None-Match": etag})
    from_fast_path = client.get(URL, headers={"If-None-Match": f'W/{etag}, "other"'})
    assert (cold_flask.calls, flask.calls) == (1, 0)
    assert from_fast_path.status_code == from_flask.status_code == 304
    assert comparable(from_fast_path) == comparable(from_flask)
    assert client.get(URL, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_request_ids_are_kept_or_made(client) -> None:
    client.get(URL)
    assert client.get(URL, headers={"X-Request-ID": "edge-42"}).headers["X-Request-ID"] == "edge-42"
    made = client.get(URL, headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get(URL).headers["X-Request-ID"]


def test_fast_answers_are_counted_and_logged_like_flask_requests(app, client, log_lines) -> None:
    flask = CountingFlask(app)
    set_default_list_bypass(app, lambda article_id: True)
    client.get(URL)
    set_default_list_bypass(app, None)
    before = scrape(client)
    client.get(URL, headers={"X-Request-ID": "hit-1"})
    after = scrape(client)
    assert flask.calls == 3  # the bypassed request and two scrapes
    requests = "relatedly_http_requests_total"
    assert delta(before, after, requests, endpoint=RELATED_RULE, method="GET", status="200") == 1
    assert delta(before, after, "relatedly_http_request_duration_seconds_count", endpoint=RELATED_RULE) == 1
    assert delta(before, after, "relatedly_cache_requests_total", result="hit") == 0  # no cache involved
    assert delta(before, after, "relatedly_cache_requests_total", result="miss") == 0
    miss, hit = [line for line in log_lines() if line["event"] == "request" and line["path"] == URL]
    assert (hit["status"], hit["cache"], hit["request_id"], hit["method"]) == (200, "precomputed", "hit-1", "GET")
    assert hit["model_version"] == miss["model_version"] == app.extensions["relatedly"].store.current().version
    assert set(hit) == set(miss)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{URL}?limit=3"),  # options: their own cache entry, through Flask
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

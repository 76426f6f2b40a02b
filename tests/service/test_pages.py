"""The widget script and the HTML fragment through the Flask test client: caching, options, escaping, errors,
and their answers as the OpenAPI document describes them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from service import create_app
from service.config import Settings
from service.pages.fragment import WIDGET_JS, date_text, thumbnail_size
from storage.events import EventRow, append_events
from tests.conftest import SPACE_STATION_ID

FRAGMENT = f"/v1/articles/{SPACE_STATION_ID}/related.html"


def check_against_spec(client, path: str, method: str, response) -> None:
    """The status is documented for the path, with the response's media type and body schema."""
    spec = client.get("/openapi.json").get_json()
    declared = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, f"{method} {path} answered undeclared {response.status_code}"
    content = declared[str(response.status_code)].get("content")
    if content is None:
        assert response.data == b""
        return
    assert response.mimetype in content
    body = response.get_json() if response.is_json else response.get_data(as_text=True)
    Draft202012Validator({**content[response.mimetype]["schema"], "components": spec["components"]}).validate(body)


def without_list_id(html: bytes) -> bytes:
    list_id = re.search(rb'data-relatedly-list="([^"]+)"', html).group(1)
    return html.replace(list_id, b"LIST")


def test_the_widget_script_is_cached_briefly_with_an_etag(client) -> None:
    response = client.get("/v1/widget.js")
    assert response.status_code == 200 and response.data == WIDGET_JS
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    again = client.get("/v1/widget.js", headers={"If-None-Match": response.headers["ETag"]})
    assert (again.status_code, again.data) == (304, b"")
    check_against_spec(client, "/v1/widget.js", "get", response)


def test_the_fragment_lists_the_json_stories_in_order(client) -> None:
    stories = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=5").get_json()["related"]
    html = client.get(FRAGMENT).get_data(as_text=True)
    assert html.count('<li class="relatedly-item">') == 5  # the widget's default limit
    positions = [html.index(f'href="{story["url"]}"') for story in stories]
    assert positions == sorted(positions)
    assert html.startswith('<aside class="relatedly" aria-labelledby="relatedly-')
    assert ">Related stories</h2>" in html


def test_the_fragment_is_http_cached_like_the_json(client) -> None:
    response = client.get(FRAGMENT + "?limit=3&heading=More")
    json_response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3")
    assert response.headers["Cache-Control"] == json_response.headers["Cache-Control"]
    assert response.headers["X-Model-Version"] == json_response.headers["X-Model-Version"]
    assert client.get(FRAGMENT + "?limit=3&heading=More").data == response.data  # stable, so cacheable
    again = client.get(FRAGMENT + "?limit=3&heading=More", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert client.get(FRAGMENT + "?limit=4").headers["ETag"] != response.headers["ETag"]
    check_against_spec(client, "/v1/articles/{article_id}/related.html", "get", response)


def test_headings_and_titles_are_escaped(client) -> None:
    html = client.get(FRAGMENT, query_string={"heading": '<script>alert(1)</script>"'}).get_data(as_text=True)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in html


def test_an_unknown_article_is_an_empty_html_404(client) -> None:
    response = client.get("/v1/articles/no-such-article/related.html")
    assert (response.status_code, response.mimetype, response.data) == (404, "text/html", b"")
    check_against_spec(client, "/v1/articles/{article_id}/related.html", "get", response)


def test_no_model_yet_is_an_empty_html_503(tmp_path: Path) -> None:
    app = create_app(Settings(models_dir=str(tmp_path / "models")), watch=False)
    response = app.test_client().get(FRAGMENT)
    assert (response.status_code, response.mimetype, response.data) == (503, "text/html", b"")


@pytest.mark.parametrize("query", ["explain=true", "utm_source=x", "_=1733616000", "cb=1&utm_medium=cdn"])
def test_unknown_parameters_are_ignored(client, query: str) -> None:
    """A cache-buster or a CDN's tracking parameter changes nothing: same bytes, same ETag."""
    plain = client.get(FRAGMENT)
    response = client.get(f"{FRAGMENT}?{query}")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    assert (response.data, response.headers["ETag"]) == (plain.data, plain.headers["ETag"])
    url = client.get(f"/v1/articles/{SPACE_STATION_ID}").get_json()["article"]["url"]
    by_url = client.get("/v1/related.html", query_string={"url": url, "utm_campaign": "x", "limit": "5"})
    assert by_url.status_code == 200 and without_list_id(by_url.data) == without_list_id(plain.data)


@pytest.mark.parametrize("query", ["limit=0", "limit=500", "category=nope", "heading=", "thumbnails=big",
                                   "diversity=2", "heading_level=1", "layout=cards", "fallback=random"])
def test_bad_values_are_an_empty_html_400(client, query: str) -> None:
    response = client.get(f"{FRAGMENT}?{query}")
    assert (response.status_code, response.mimetype, response.data) == (400, "text/html", b"")
    check_against_spec(client, "/v1/articles/{article_id}/related.html", "get", response)
    by_url = client.get(f"/v1/related.html?url=x&{query}")
    assert (by_url.status_code, by_url.mimetype, by_url.data) == (404, "text/html", b"")
    no_url = client.get(f"/v1/related.html?{query}")
    assert (no_url.status_code, no_url.mimetype, no_url.data) == (400, "text/html", b"")
    check_against_spec(client, "/v1/related.html", "get", no_url)


def test_a_failure_inside_the_fragment_is_an_empty_html_500(client, monkeypatch) -> None:
    """Even an unexpected exception never puts a JSON error page into an article."""
    from service.pages import fragment

    def broken(*args, **kwargs):
        raise RuntimeError("the template is broken")

    monkeypatch.setattr(fragment, "render_fragment", broken)
    response = client.get(FRAGMENT)
    assert (response.status_code, response.mimetype, response.data) == (500, "text/html", b"")


def test_ranking_options_pass_through(client) -> None:
    first = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=1").get_json()["related"][0]
    html = client.get(f"{FRAGMENT}?limit=2&exclude={first['id']}&category=same").get_data(as_text=True)
    assert f'data-relatedly-id="{first["id"]}"' not in html and html.count("<li") == 2


@pytest.mark.parametrize(("raw", "size"), [(None, None), ("false", None), ("", ("160", "90")), ("true", ("160", "90")),
                                           ("120x80", ("120", "80"))])
def test_thumbnail_sizes(raw, size) -> None:
    assert thumbnail_size(raw) == size


@pytest.mark.parametrize(("raw", "lang", "text"), [
    ("2024-01-09", "en", "January 9, 2024"), ("2024-01-09", "en-GB", "9 January 2024"),
    ("2025-12-31T23:00:00Z", "de", "31. Dezember 2025"), ("2024-03-01", "de-AT", "1. März 2024"),
    ("2024-03-01", "fr", "1 mars 2024"), ("2024-03-01", "not a tag!", "March 1, 2024"),
    ("2024-13-01", "en", None), ("2024-02-30", "en", None), ("yesterday", "en", None), (None, "en", None)])
def test_dates_in_the_pages_language_as_the_widget_writes_them(raw, lang, text) -> None:
    assert date_text(raw, lang) == text


def test_the_stylesheet_is_cached_briefly_with_an_etag_and_the_script_carries_it(client) -> None:
    response = client.get("/v1/widget.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert client.get("/v1/widget.css", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    assert response.data.decode().strip().endswith("}") and b"@layer relatedly" in response.data
    assert json.dumps(response.data.decode()).encode() in WIDGET_JS  # one stylesheet, two ways to the page
    assert b"__RELATEDLY_" not in WIDGET_JS
    check_against_spec(client, "/v1/widget.css", "get", response)


def test_language_heading_level_layout_and_style_options(client) -> None:
    html = client.get(f"{FRAGMENT}?locale=de&heading_level=3&layout=grid&style=none&limit=2").get_data(as_text=True)
    assert 'data-relatedly-layout="grid" data-relatedly-style="none">' in html
    assert '<h3 class="relatedly-heading"' in html and ">Mehr zum Thema</h3>" in html
    assert re.search(r'<time class="relatedly-date" datetime="[^"]+">\d{1,2}\. [A-ZÄÖÜ][a-zä]+ \d{4}</time>', html)
    assert 'data-relatedly-layout="list">' in client.get(FRAGMENT).get_data(as_text=True)


@pytest.mark.parametrize("kind", ["recent", "popular"])
def test_the_fallback_fills_an_empty_list_and_says_so(client, kind: str) -> None:
    empty = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?min_score=1").get_json()
    assert empty["count"] == 0 and "fallback" not in empty  # off by default
    body = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?min_score=1&fallback={kind}").get_json()
    assert body["fallback"] == kind and all(s["source"] == kind for s in body["related"])
    if kind == "popular":  # no reader events in this database: nothing to show
        assert body["related"] == []
        return
    article = client.get(f"/v1/articles/{SPACE_STATION_ID}").get_json()["article"]
    dates = []
    for story in body["related"]:
        info = client.get(f"/v1/articles/{story['id']}").get_json()["article"]
        assert info["category"] == article["category"] and info["id"] != SPACE_STATION_ID
        dates.append(info["published_at"])
    assert body["count"] == len(body["related"]) > 0 and dates == sorted(dates, reverse=True)
    html = client.get(f"{FRAGMENT}?min_score=1&fallback={kind}&locale=de").get_data(as_text=True)
    assert 'data-relatedly-fallback="recent">' in html and ">Neueste Artikel</h2>" in html
    full = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?fallback={kind}").get_json()
    assert "fallback" not in full and full["count"] > 0  # a list with stories is never replaced


def test_event_answers_match_the_spec(client) -> None:
    check_against_spec(client, "/v1/events", "post", client.post("/v1/events", data="{", content_type="text/plain"))
    check_against_spec(client, "/v1/events", "post", client.post("/v1/events", data="{}", content_type="image/png"))
    check_against_spec(client, "/v1/events", "post", client.post("/v1/events", json={"type": "click"}))


def test_the_fragment_by_url_is_the_fragment_of_that_article(client) -> None:
    url = client.get(f"/v1/articles/{SPACE_STATION_ID}").get_json()["article"]["url"]
    tracked = url.replace("https://", "https://www.") + "/?utm_source=newsletter#comments"
    by_url = client.get("/v1/related.html", query_string={"url": tracked, "limit": "3"})
    by_id = client.get(FRAGMENT + "?limit=3")
    assert by_url.status_code == 200 and by_url.mimetype == "text/html"
    assert by_url.data.count(b'<li class="relatedly-item">') == 3
    assert by_url.headers["X-Model-Version"] == by_id.headers["X-Model-Version"]
    assert without_list_id(by_url.data) == without_list_id(by_id.data)  # the list id hashes the query string
    check_against_spec(client, "/v1/related.html", "get", by_url)


def test_the_fragment_by_url_of_an_unknown_url_is_an_empty_html_404(client) -> None:
    response = client.get("/v1/related.html", query_string={"url": "https://elsewhere.example/none"})
    assert (response.status_code, response.mimetype, response.data) == (404, "text/html", b"")
    check_against_spec(client, "/v1/related.html", "get", response)


@pytest.mark.parametrize("query", ["", "url=", "colour=red"])
def test_the_fragment_by_url_without_a_url_is_an_empty_html_400(client, query: str) -> None:
    response = client.get(f"/v1/related.html?{query}")
    assert (response.status_code, response.mimetype, response.data) == (400, "text/html", b"")
    check_against_spec(client, "/v1/related.html", "get", response)


def test_an_id_with_a_line_break_is_an_empty_html_404_too(client) -> None:
    response = client.get("/v1/articles/no%0Asuch/related.html")
    assert (response.status_code, response.mimetype, response.data) == (404, "text/html", b"")


def test_the_popular_fallback_is_the_most_clicked_stories_less_the_excluded(sample_models_dir: Path,
                                                                            tmp_path: Path) -> None:
    app = create_app(Settings(models_dir=str(sample_models_dir), admin_token="a-token-of-sixteen-chars",
                              database_url=f"sqlite:///{tmp_path / 'events.db'}"), watch=False)
    client = app.test_client()
    listed = [s["id"] for s in client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=4").get_json()["related"]]
    now = datetime.now(UTC)
    clicks = [listed[2]] * 3 + [listed[0]] * 2 + [SPACE_STATION_ID] * 5 + [listed[1]] + ["not-in-the-model"] * 9
    append_events(app.extensions["relatedly"].database,
                  [EventRow(now, "click", f"l{n}", "elsewhere", story, 1, "v") for n, story in enumerate(clicks)])
    excluded = client.post("/v1/admin/overrides/exclusions", json={"story_id": listed[0]},
                           headers={"Authorization": "Bearer a-token-of-sixteen-chars"})
    assert excluded.status_code == 200
    body = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?min_score=1&fallback=popular&limit=3").get_json()
    assert body["fallback"] == "popular"
    assert [s["id"] for s in body["related"]] == [listed[2], listed[1]]  # not the article, an exclusion, an unknown

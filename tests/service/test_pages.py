"""The widget script and the HTML fragment through the Flask test client: caching, options, escaping, errors,
and their answers as the OpenAPI document describes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from service import create_app
from service.config import Settings
from service.pages.fragment import WIDGET_JS, date_text, thumbnail_size
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


@pytest.mark.parametrize("query", ["explain=true", "utm_source=x", "limit=0", "limit=500", "category=nope",
                                   "heading=", "thumbnails=big", "diversity=2"])
def test_unknown_options_and_bad_values_are_400_json(client, query: str) -> None:
    response = client.get(f"{FRAGMENT}?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"
    check_against_spec(client, "/v1/articles/{article_id}/related.html", "get", response)


def test_ranking_options_pass_through(client) -> None:
    first = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=1").get_json()["related"][0]
    html = client.get(f"{FRAGMENT}?limit=2&exclude={first['id']}&category=same").get_data(as_text=True)
    assert f'data-relatedly-id="{first["id"]}"' not in html and html.count("<li") == 2


@pytest.mark.parametrize(("raw", "size"), [(None, None), ("false", None), ("", ("160", "90")), ("true", ("160", "90")),
                                           ("120x80", ("120", "80"))])
def test_thumbnail_sizes(raw, size) -> None:
    assert thumbnail_size(raw) == size


@pytest.mark.parametrize(("raw", "text"), [("2024-01-09", "9 January 2024"),
                                           ("2025-12-31T23:00:00Z", "31 December 2025"),
                                           ("2024-13-01", None), ("yesterday", None), (None, None)])
def test_dates_as_the_widget_writes_them(raw, text) -> None:
    assert date_text(raw) == text


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


@pytest.mark.parametrize("query", ["", "url=", "url=https://news.example.org/x&colour=red"])
def test_the_fragment_by_url_without_a_url_or_with_unknown_options_is_400_json(client, query: str) -> None:
    response = client.get(f"/v1/related.html?{query}")
    assert response.status_code == 400 and response.is_json
    assert response.get_json()["error"]["code"] == "invalid_parameter"
    check_against_spec(client, "/v1/related.html", "get", response)


def test_an_id_with_a_line_break_is_an_empty_html_404_too(client) -> None:
    response = client.get("/v1/articles/no%0Asuch/related.html")
    assert (response.status_code, response.mimetype, response.data) == (404, "text/html", b"")

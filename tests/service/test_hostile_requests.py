"""Every JSON entrance of the service against hostile bodies (deep nesting, lone surrogates, bad ids and URLs),
guessing the admin token, a weak token at start, and signing out of the editor (issue 23)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from service import create_app
from service.config import ConfigError, Settings
from tests import hostile
from tests.conftest import RELATEDLY, SPACE_STATION_ID

TOKEN = "s3cret-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEEP_BODY = "[" * 30_000 + "]" * 30_000


def article(article_id: str, **fields) -> dict:
    return {"id": article_id, "title": "Crew docks at the station", "body": "Astronauts docked with the station.",
            **fields}


@pytest.fixture()
def admin_app(models_dir: Path):
    return create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, events_per_minute=0), watch=False)


@pytest.mark.parametrize(("method", "path", "content_type", "wrap"), [
    ("POST", "/v1/events", "text/plain", False),
    ("POST", "/v1/related", "application/json", True),
    ("POST", "/v1/related:batch", "application/json", True),
    ("POST", "/v1/admin/articles", "application/json", True),
    ("PUT", f"/v1/admin/overrides/pins/{SPACE_STATION_ID}", "application/json", True),
])
def test_deep_json_is_invalid_json_with_one_short_log_line(admin_app, log_lines, method, path, content_type,
                                                           wrap) -> None:
    body = '{"articles": ' + DEEP_BODY + "}" if wrap else DEEP_BODY
    response = admin_app.test_client().open(path, method=method, data=body, content_type=content_type,
                                            headers=AUTH)
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["error"]["code"] == "invalid_json"
    lines = log_lines()
    assert len(lines) == 1 and lines[0]["status"] == 400, lines  # the request's own line, no traceback
    assert len(json.dumps(lines[0])) < 1000


def test_nesting_within_the_limit_is_still_json(admin_app) -> None:
    nested = {"title": "Crew docks", "body": "b", "tags": [], "other": json.loads("[" * 60 + "]" * 60)}
    assert admin_app.test_client().post("/v1/related", json=nested).status_code == 200


def test_a_lone_surrogate_is_an_invalid_article(admin_app) -> None:
    body = '{"articles": [{"id": "lone", "title": "bad \\ud800 title", "body": "b"}]}'
    response = admin_app.test_client().post("/v1/admin/articles", data=body, content_type="application/json",
                                            headers=AUTH)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_article" and "lone surrogate" in error["message"]


@pytest.mark.parametrize("bad_id", hostile.BAD_IDS)
def test_ids_breaking_the_rule_are_refused_at_the_admin_api(admin_app, bad_id) -> None:
    response = admin_app.test_client().post("/v1/admin/articles", json={"articles": [article(bad_id)]},
                                            headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_article"
    assert "field 'id'" in response.get_json()["error"]["message"]


def test_an_nfd_id_is_stored_in_nfc_and_found_in_either_form(admin_app) -> None:
    client = admin_app.test_client()
    response = client.post("/v1/admin/articles", json={"articles": [article("cafe\u0301-crew")]}, headers=AUTH)
    assert response.status_code == 200 and response.get_json()["added"] == ["caf\u00e9-crew"]
    for spelling in ("caf\u00e9-crew", "cafe\u0301-crew"):
        found = client.get(f"/v1/articles/{quote(spelling)}/related")
        assert found.status_code == 200, (spelling, found.get_json())
        assert found.get_json()["article_id"] == "caf\u00e9-crew"


def test_urls_that_are_not_http_are_dropped_with_a_note(admin_app) -> None:
    client = admin_app.test_client()
    articles = [article(f"url-{n}", url=url, image=url) for n, url in enumerate(hostile.BAD_URLS)]
    response = client.post("/v1/admin/articles", json={"articles": articles}, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["notes"]) == 2 * len(hostile.BAD_URLS)
    for n in range(len(hostile.BAD_URLS)):
        stored = client.get(f"/v1/articles/url-{n}").get_json()["article"]
        assert stored.get("url") is None and stored.get("image") is None


def test_guessing_the_admin_token_is_limited_like_the_sign_in(admin_app) -> None:
    client = admin_app.test_client()
    guesser, other = {"REMOTE_ADDR": "10.1.2.3"}, {"REMOTE_ADDR": "10.1.2.4"}

    def delete(token: str, address: dict) -> int:
        return client.delete(f"/v1/admin/articles/{SPACE_STATION_ID}-none", environ_base=address,
                             headers={"Authorization": f"Bearer {token}"}).status_code

    assert [delete(f"guess-{i}", guesser) for i in range(7)] == [403] * 5 + [429] * 2
    right = client.delete(f"/v1/admin/articles/{SPACE_STATION_ID}-none", environ_base=guesser, headers=AUTH)
    assert right.status_code == 429 and 0 < int(right.headers["Retry-After"]) <= 301  # even the right token
    assert right.get_json()["error"]["code"] == "too_many_failures"
    assert delete(TOKEN, other) == 404  # another address is not locked out (unknown article: authorised)
    signed_in = client.post("/editor/sign-in", data={"token": TOKEN}, environ_base=guesser)
    assert signed_in.status_code == 429  # one limit for every way in


def test_bearer_failures_and_sign_in_failures_share_the_limit(admin_app) -> None:
    client = admin_app.test_client()
    address = {"REMOTE_ADDR": "10.1.2.5"}
    for i in range(3):
        assert client.post("/editor/sign-in", data={"token": f"wrong-{i}"}, environ_base=address).status_code == 401
    statuses = [client.delete("/v1/admin/articles/x", environ_base=address,
                              headers={"Authorization": f"Bearer wrong-{i}"}).status_code for i in range(3)]
    assert statuses == [403, 403, 429]


@pytest.mark.parametrize(("token", "reason"), [
    ("aaaaaaaaaaaaaaaa", 'Repeats like "aaa"'),
    ("password12345678", "commonly used password"),
    ("abcdefghijklmnopqrst", 'Sequences like "abc"'),
    ("short-token", "at least 16 characters"),
])
def test_a_weak_admin_token_is_refused_with_the_reason(token: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        Settings.from_env({"RELATEDLY_ADMIN_TOKEN": token})


def test_relatedly_serve_refuses_a_weak_token_at_start(models_dir: Path) -> None:
    serve = subprocess.run([RELATEDLY, "serve"], env={**os.environ, "RELATEDLY_ADMIN_TOKEN": "password12345678",
                                                     "RELATEDLY_MODELS_DIR": str(models_dir)},
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2, serve.stderr
    assert "admin_token is too weak" in serve.stderr and "commonly used password" in serve.stderr


def test_signing_out_ends_the_session_on_the_server(admin_app) -> None:
    client = admin_app.test_client()
    assert client.post("/editor/sign-in", data={"token": TOKEN, "name": "Ada"}).status_code == 303
    cookie = client.get_cookie("relatedly_editor").value
    page = client.get("/editor")
    assert b'class="card sign-in' not in page.data
    csrf = page.data.decode().split('name="csrf-token" content="')[1].split('"')[0]
    assert client.post("/editor/sign-out", data={"csrf_token": csrf}).status_code == 303

    stolen = admin_app.test_client()  # a copy of the cookie, kept from before the sign-out
    stolen.set_cookie("relatedly_editor", cookie)
    assert b'class="card sign-in' in stolen.get("/editor").data
    listing = stolen.get("/v1/admin/overrides")
    assert listing.status_code == 401

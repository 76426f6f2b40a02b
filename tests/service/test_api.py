"""The public API through the Flask test client: success, every error path as JSON."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Settings
from tests.conftest import SPACE_STATION_ID


def test_related_returns_the_documented_shape(client) -> None:
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=5")
    assert response.status_code == 200
    body = response.get_json()
    assert body["article_id"] == SPACE_STATION_ID
    assert body["model_version"] == response.headers["X-Model-Version"]
    assert len(body["related"]) == 5
    first = body["related"][0]
    assert set(first) == {"id", "title", "url", "published_at", "score", "source"}
    assert first["url"].startswith("https://news.example.org/spaceflight/")
    assert 0 < first["score"] <= 1
    assert [r["score"] for r in body["related"]] == sorted((r["score"] for r in body["related"]), reverse=True)


def test_default_limit_is_ten(client) -> None:
    assert len(client.get(f"/v1/articles/{SPACE_STATION_ID}/related").get_json()["related"]) == 10


def test_second_request_is_served_from_the_cache(client) -> None:
    url = f"/v1/articles/{SPACE_STATION_ID}/related?limit=3"
    first, second = client.get(url), client.get(url)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.get_json() == second.get_json()


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/articles/no-such-article/related", 404, "article_not_found"),
        (f"/v1/articles/{SPACE_STATION_ID}/related?limit=abc", 400, "invalid_parameter"),
        (f"/v1/articles/{SPACE_STATION_ID}/related?limit=0", 400, "invalid_parameter"),
        (f"/v1/articles/{SPACE_STATION_ID}/related?limit=-3", 400, "invalid_parameter"),
        (f"/v1/articles/{SPACE_STATION_ID}/related?limit=51", 400, "invalid_parameter"),
        (f"/v1/articles/{SPACE_STATION_ID}/related?limit=100000", 400, "invalid_parameter"),
        (f"/v1/articles/{SPACE_STATION_ID}/related?limit=2.5", 400, "invalid_parameter"),
        ("/v1/nothing-here", 404, "not_found"),
        ("/", 404, "not_found"),
    ],
)
def test_errors_are_json(client, path: str, status: int, code: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def test_limit_error_names_the_parameter(client) -> None:
    message = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=abc").get_json()["error"]["message"]
    assert "limit" in message


def test_wrong_method_is_json_405(client) -> None:
    response = client.post(f"/v1/articles/{SPACE_STATION_ID}/related")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_unknown_id_with_awkward_characters(client) -> None:
    response = client.get("/v1/articles/a%2Fb%20c%3Ad/related")
    assert response.status_code == 404
    assert "a/b c:d" in response.get_json()["error"]["message"]


def test_unexpected_failure_is_json_500(app, client) -> None:
    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = client.get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error",
                                             "message": "internal error; the incident was logged"}}


def test_healthz_is_always_ok(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_model_and_cache(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["n_articles"] == 156
    assert body["model_version"]
    assert body["cache"]["backend"] == "memory"


def test_without_a_model_related_is_503_and_not_ready(tmp_path) -> None:
    client = create_app(Settings(models_dir=str(tmp_path)), watch=False).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["error"]["code"] == "model_unavailable"
    response = client.get(f"/v1/articles/{SPACE_STATION_ID}/related")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"

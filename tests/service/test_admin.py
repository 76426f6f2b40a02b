"""Admin API: off without a token, bearer auth, and updates/takedowns served at once through the API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from service import create_app
from service.config import Settings
from tests.conftest import SPACE_STATION_ID

TOKEN = "s3cret-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_STORY = {
    "id": "crew-of-four-docks-at-tiangong",
    "title": "International crew of four docks at the Tiangong space station",
    "body": "Astronauts from three countries docked with China's Tiangong space station, the first international "
            "crew aboard the station, and will spend six months in orbit running experiments.",
    "tags": ["space station", "tiangong", "astronauts"],
    "category": "spaceflight",
    "published_at": "2026-11-20",
}


@pytest.fixture()
def admin_client(models_dir: Path):
    return create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN), watch=False).test_client()


def _related_ids(client, article_id: str, **params) -> list[str]:
    response = client.get(f"/v1/articles/{article_id}/related", query_string=params)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["related"]]


def test_admin_routes_are_absent_without_a_token(client) -> None:
    for response in (client.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH),
                     client.delete(f"/v1/admin/articles/{SPACE_STATION_ID}", headers=AUTH)):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
        ({"Authorization": "Bearer "}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong-token-of-some-length"}, 403, "forbidden"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403, "forbidden"),
    ],
)
def test_admin_needs_the_bearer_token(admin_client, headers, status, code) -> None:
    response = admin_client.delete(f"/v1/admin/articles/{SPACE_STATION_ID}", headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert response.headers["Cache-Control"] == "no-store"
    assert ("WWW-Authenticate" in response.headers) == (status == 401)
    assert SPACE_STATION_ID in admin_client.get(f"/v1/articles/{SPACE_STATION_ID}").get_json()["article"]["id"]


def test_a_new_story_enters_older_lists_at_once(admin_client) -> None:
    before = admin_client.get("/readyz").get_json()
    assert NEW_STORY["id"] not in _related_ids(admin_client, SPACE_STATION_ID, limit=3)  # now cached
    response = admin_client.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["added"] == [NEW_STORY["id"]] and body["previous_version"] == before["model_version"]
    assert response.headers["Cache-Control"] == "no-store"

    ready = admin_client.get("/readyz").get_json()
    assert ready["model_version"] == body["model_version"] != before["model_version"]
    assert ready["n_articles"] == before["n_articles"] + 1 and ready["added_since_fit"] == 1
    assert _related_ids(admin_client, SPACE_STATION_ID, limit=3)[0] == NEW_STORY["id"]
    assert SPACE_STATION_ID in _related_ids(admin_client, NEW_STORY["id"], limit=5)


def test_a_takedown_disappears_from_every_list_and_the_api(admin_client) -> None:
    neighbours = _related_ids(admin_client, SPACE_STATION_ID, limit=5)
    victim = neighbours[0]
    holders = [i for i in neighbours[1:] if victim in _related_ids(admin_client, i, limit=10)]
    assert holders, "the premise: other stories list the victim"
    response = admin_client.delete(f"/v1/admin/articles/{victim}", headers=AUTH)
    assert response.status_code == 200 and response.get_json()["removed"] == [victim]

    assert victim not in _related_ids(admin_client, SPACE_STATION_ID, limit=5)
    assert len(_related_ids(admin_client, SPACE_STATION_ID, limit=5)) == 5  # refilled, not shortened
    for holder in holders:
        assert victim not in _related_ids(admin_client, holder, limit=10)
    assert admin_client.get(f"/v1/articles/{victim}").status_code == 404
    assert admin_client.get(f"/v1/articles/{victim}/related").status_code == 404
    # a later update cannot bring it back
    again = admin_client.post("/v1/admin/articles", json={"articles": [{"id": victim, "title": "Back again",
                                                                          "body": "space station"}]}, headers=AUTH)
    assert again.get_json()["refused"] == [victim]
    assert admin_client.get(f"/v1/articles/{victim}").status_code == 404


def test_bad_admin_requests_are_400_and_publish_nothing(admin_client) -> None:
    version = admin_client.get("/readyz").get_json()["model_version"]
    for body in ({}, {"articles": []}, {"articles": "x"}, {"articles": [{"id": "x"}]}, {"articles": [3]}):
        response = admin_client.post("/v1/admin/articles", json=body, headers=AUTH)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] in {"invalid_json", "invalid_article"}
    missing = admin_client.delete("/v1/admin/articles/no-such-article", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "article_not_found"
    assert admin_client.get("/readyz").get_json()["model_version"] == version


def test_a_write_that_outlasts_the_wait_is_a_job_any_worker_reports_on(models_dir: Path) -> None:
    settings = Settings(models_dir=str(models_dir), admin_token=TOKEN, admin_wait_seconds=0)
    writer = create_app(settings, watch=False).test_client()
    other_worker = create_app(settings, watch=False).test_client()
    accepted = writer.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH)
    assert accepted.status_code == 202
    status_url = accepted.get_json()["status_url"]
    assert accepted.headers["Location"] == status_url and accepted.headers["Cache-Control"] == "no-store"
    deadline = time.monotonic() + 60
    while (job := other_worker.get(status_url, headers=AUTH).get_json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["state"] == "done" and job["kind"] == "upsert" and job["finished_at"]
    assert job["result"]["added"] == [NEW_STORY["id"]]
    other_worker.application.extensions["relatedly"].store.refresh()
    assert NEW_STORY["id"] in _related_ids(other_worker, SPACE_STATION_ID)
    assert writer.get(status_url).status_code == 401  # the job's record needs the token too
    assert other_worker.get("/v1/admin/jobs/unknownjob", headers=AUTH).get_json()["error"]["code"] == "job_not_found"


def test_a_write_within_the_wait_answers_with_its_job_and_result(admin_client) -> None:
    done = admin_client.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH)
    assert done.status_code == 200
    job = admin_client.get(f"/v1/admin/jobs/{done.get_json()['job_id']}", headers=AUTH).get_json()
    assert job["state"] == "done"
    assert job["result"] == {k: v for k, v in done.get_json().items() if k != "job_id"}


def test_a_withdrawal_is_reversed_by_adding_the_article_again_and_a_takedown_is_not(admin_client) -> None:
    assert admin_client.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH).status_code == 200
    withdrawn = admin_client.delete(f"/v1/admin/articles/{NEW_STORY['id']}?withdraw=true", headers=AUTH)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["removed"] == [NEW_STORY["id"]]
    assert admin_client.get(f"/v1/articles/{NEW_STORY['id']}").status_code == 404
    back = admin_client.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH).get_json()
    assert (back["added"], back["refused"]) == ([NEW_STORY["id"]], [])
    assert NEW_STORY["id"] in _related_ids(admin_client, SPACE_STATION_ID)
    assert admin_client.delete(f"/v1/admin/articles/{NEW_STORY['id']}", headers=AUTH).status_code == 200
    again = admin_client.post("/v1/admin/articles", json={"articles": [NEW_STORY]}, headers=AUTH).get_json()
    assert (again["added"], again["refused"]) == ([], [NEW_STORY["id"]])

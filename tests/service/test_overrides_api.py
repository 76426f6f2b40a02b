"""Editorial overrides through the admin API, on SQLite and PostgreSQL: every path serves them at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishing.train import train_and_publish
from publishing.updates import update_published
from recommender import artifacts
from service import create_app
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID
from tests.service.test_openapi import _validate

TOKEN = "editor-token-for-the-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Relatedly-Actor": "alice"}
BIRDS = "why-birds-sing-loudest-at-dawn"
OVERRIDES = "/v1/admin/overrides"


def make_app(models_dir: Path, database_url: str | None = None, **settings):
    return create_app(Settings(models_dir=str(models_dir), admin_token=TOKEN, database_url=database_url, **settings),
                      watch=False)


@pytest.fixture()
def client(models_dir: Path, database_url: str):
    return make_app(models_dir, database_url).test_client()


def related(client, article_id: str = SPACE_STATION_ID, **params) -> list[dict]:
    response = client.get(f"/v1/articles/{article_id}/related", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["related"]


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def pin(client, article_id: str, stories: list[str], **extra):
    return client.put(f"{OVERRIDES}/pins/{article_id}", json={"stories": stories, **extra}, headers=AUTH)


def test_pins_come_first_in_order_and_the_model_fills_without_repeats(client) -> None:
    plain = ids(related(client, limit=5))
    assert pin(client, SPACE_STATION_ID, [BIRDS, plain[2]]).status_code == 200
    items = related(client, limit=5)
    assert ids(items)[:2] == [BIRDS, plain[2]]
    assert [i["source"] for i in items] == ["pinned", "pinned", "model", "model", "model"]
    assert ids(items)[2:] == [plain[0], plain[1], plain[3]]
    assert ids(related(client, limit=1)) == [BIRDS]  # the limit cuts pins too
    assert ids(related(client))[:2] == [BIRDS, plain[2]]  # the default request (the fast path's) too
    reordered = pin(client, SPACE_STATION_ID, [plain[2], BIRDS]).get_json()
    assert [s["id"] for s in reordered["pins"][0]["stories"]] == [plain[2], BIRDS]
    assert ids(related(client, limit=5))[:2] == [plain[2], BIRDS]
    assert client.delete(f"{OVERRIDES}/pins/{SPACE_STATION_ID}", headers=AUTH).status_code == 200
    assert ids(related(client, limit=5)) == plain


def test_blocks_hold_one_way_or_both_ways(client) -> None:
    first = ids(related(client, limit=3))[0]
    assert SPACE_STATION_ID in ids(related(client, first, limit=20))
    body = {"article_id": SPACE_STATION_ID, "story_id": first}
    assert client.post(f"{OVERRIDES}/blocks", json=body, headers=AUTH).status_code == 200
    assert first not in ids(related(client, limit=20)) and first not in ids(related(client))
    assert SPACE_STATION_ID in ids(related(client, first, limit=20))  # one way only
    assert client.post(f"{OVERRIDES}/blocks", json={**body, "both_ways": True}, headers=AUTH).status_code == 200
    assert SPACE_STATION_ID not in ids(related(client, first, limit=20))
    lift = client.delete(f"{OVERRIDES}/blocks", query_string={**body, "both_ways": "true"}, headers=AUTH)
    assert lift.status_code == 200 and lift.get_json()["blocks"] == []
    assert first in ids(related(client, limit=3))
    again = client.delete(f"{OVERRIDES}/blocks", query_string=body, headers=AUTH)
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "override_not_found"


def test_an_exclusion_leaves_every_path(client) -> None:
    story = ids(related(client, limit=3))[0]
    article = client.get(f"/v1/articles/{SPACE_STATION_ID}").get_json()["article"]
    text_query = {"title": article["title"], "body": "", "tags": article["tags"], "limit": 10}
    assert story in ids(client.post("/v1/related", json=text_query).get_json()["related"])
    related(client)  # the default list is now cached (the fast path serves it next)
    excluded = client.post(f"{OVERRIDES}/exclusions", json={"story_id": story, "reason": "sponsored"}, headers=AUTH)
    assert excluded.status_code == 200 and excluded.get_json()["exclusions"][0]["reason"] == "sponsored"
    assert story not in ids(related(client))
    assert story not in ids(related(client, limit=20, explain="true", diversity=0.3))
    batch = client.post("/v1/related:batch", json={"ids": [SPACE_STATION_ID, story]}).get_json()["results"]
    assert story not in ids(batch[0]["related"]) and batch[1]["article_id"] == story  # its own page keeps a list
    assert story not in ids(client.post("/v1/related", json=text_query).get_json()["related"])
    assert pin(client, SPACE_STATION_ID, [story]).status_code == 200
    assert story not in ids(related(client))  # an exclusion beats a pin, which shows as inactive
    listing = client.get(OVERRIDES, query_string={"article_id": SPACE_STATION_ID}, headers=AUTH).get_json()
    assert listing["pins"][0]["stories"][0] == {"id": story, "title": listing["pins"][0]["stories"][0]["title"],
                                                "active": False, "inactive_reason": "excluded"}
    assert client.delete(f"{OVERRIDES}/exclusions/{story}", headers=AUTH).status_code == 200
    assert ids(related(client))[0] == story and related(client)[0]["source"] == "pinned"


def test_a_text_query_given_an_article_gets_its_pins(client) -> None:
    pin(client, SPACE_STATION_ID, [BIRDS])
    draft = {"title": "Space station crews", "body": "astronauts on the station", "article_id": SPACE_STATION_ID}
    items = client.post("/v1/related", json=draft).get_json()["related"]
    assert items[0]["id"] == BIRDS and items[0]["source"] == "pinned"
    assert SPACE_STATION_ID not in ids(items)


def test_an_unknown_story_is_refused_or_kept_inactive_until_it_is_imported(client, models_dir: Path) -> None:
    refused = pin(client, SPACE_STATION_ID, ["not-imported-yet"])
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "article_not_found"
    kept = pin(client, SPACE_STATION_ID, ["not-imported-yet", BIRDS], allow_inactive=True).get_json()
    assert [(s["id"], s["active"], s["inactive_reason"]) for s in kept["pins"][0]["stories"]] == [
        ("not-imported-yet", False, "not_in_model"), (BIRDS, True, None)]
    assert ids(related(client, limit=3))[0] == BIRDS
    assert "not-imported-yet" not in ids(related(client, limit=50))
    new = {"id": "not-imported-yet", "title": "Moon base plans", "body": "A lunar base is planned by the agency."}
    assert client.post("/v1/admin/articles", json={"articles": [new]}, headers=AUTH).status_code == 200
    assert ids(related(client, limit=3))[:2] == ["not-imported-yet", BIRDS]


def test_overrides_survive_train_update_remove_and_rollback(client, models_dir: Path) -> None:
    store = client.application.extensions["relatedly"].store
    pin(client, SPACE_STATION_ID, [BIRDS])
    blocked = ids(related(client, limit=3))[1]
    client.post(f"{OVERRIDES}/blocks", json={"article_id": SPACE_STATION_ID, "story_id": blocked}, headers=AUTH)

    def check() -> None:
        items = ids(related(client, limit=5))
        assert items[0] == BIRDS and blocked not in items

    first = store.current().version
    train_and_publish(SAMPLE_CORPUS, models_dir, top_k=50)
    assert store.refresh() and store.current().version != first
    check()
    update_published(models_dir, removals=[BIRDS])
    store.refresh()
    assert BIRDS not in ids(related(client, limit=50))  # taken down: the pin is inactive, kept
    listing = client.get(OVERRIDES, headers=AUTH).get_json()
    assert listing["pins"][0]["stories"][0]["inactive_reason"] == "not_in_model"
    artifacts.publish(models_dir, first)  # roll back to before the takedown
    store.refresh()
    assert store.current().version == first
    check()


def test_a_change_in_one_worker_is_seen_by_the_next_request_of_another(models_dir: Path, database_url: str) -> None:
    writer, reader = make_app(models_dir, database_url).test_client(), make_app(models_dir, database_url).test_client()
    before = related(reader, limit=3)
    assert related(reader, limit=3) == before  # now cached in the reader
    assert pin(writer, SPACE_STATION_ID, [BIRDS]).status_code == 200
    assert ids(related(reader, limit=3))[0] == BIRDS
    assert reader.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3").headers["X-Cache"] == "hit"


def test_every_change_writes_an_audit_row(client) -> None:
    pin(client, SPACE_STATION_ID, [BIRDS])
    client.post(f"{OVERRIDES}/exclusions", json={"story_id": BIRDS}, headers=AUTH)
    client.delete(f"{OVERRIDES}/exclusions/{BIRDS}", headers=AUTH)
    entries = client.get(f"{OVERRIDES}/audit", headers=AUTH).get_json()["entries"]
    assert [(e["action"], e["actor"], e["story_ids"]) for e in entries] == [
        ("include", "api:alice", [BIRDS]), ("exclude", "api:alice", [BIRDS]), ("pin", "api:alice", [BIRDS])]
    assert [e["revision"] for e in entries] == [3, 2, 1]
    mine = client.get(f"{OVERRIDES}/audit", query_string={"article_id": SPACE_STATION_ID}, headers=AUTH)
    assert [e["action"] for e in mine.get_json()["entries"]] == ["pin"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("put", f"pins/{SPACE_STATION_ID}", {"stories": "x"}, 400, "invalid_parameter"),
        ("put", f"pins/{SPACE_STATION_ID}", {"stories": [BIRDS, BIRDS]}, 400, "invalid_parameter"),
        ("put", f"pins/{SPACE_STATION_ID}", {"stories": [SPACE_STATION_ID]}, 409, "conflicting_override"),
        ("put", f"pins/{SPACE_STATION_ID}", {"stories": [f"s{i}" for i in range(11)]}, 400, "invalid_parameter"),
        ("put", "pins/unknown-page", {"stories": [BIRDS]}, 404, "article_not_found"),
        ("put", f"pins/{SPACE_STATION_ID}", None, 400, "invalid_json"),
        ("delete", f"pins/{SPACE_STATION_ID}", None, 404, "override_not_found"),
        ("post", "blocks", {"article_id": SPACE_STATION_ID}, 400, "invalid_parameter"),
        ("post", "blocks", {"article_id": BIRDS, "story_id": BIRDS}, 409, "conflicting_override"),
        ("post", "exclusions", {"story_id": BIRDS, "allow_inactive": {}}, 400, "invalid_parameter"),
        ("post", "blocks", {"article_id": BIRDS, "story_id": SPACE_STATION_ID, "both_ways": "yes"}, 400,
         "invalid_parameter"),
        ("post", "exclusions", {"story_id": "nope"}, 404, "article_not_found"),
        ("post", "exclusions", {"story_id": BIRDS, "reason": 3}, 400, "invalid_parameter"),
        ("delete", f"exclusions/{BIRDS}", None, 404, "override_not_found"),
    ],
)
def test_bad_requests_get_json_errors_and_change_nothing(models_dir: Path, method, path, body, status, code) -> None:
    client = make_app(models_dir).test_client()
    response = getattr(client, method)(f"{OVERRIDES}/{path}", json=body, headers=AUTH)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert client.get(OVERRIDES, headers=AUTH).get_json()["revision"] == 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer not-the-token-at-all"}, 403)],
)
def test_overrides_need_the_token(models_dir: Path, headers, status) -> None:
    client = make_app(models_dir).test_client()
    assert client.put(f"{OVERRIDES}/pins/{SPACE_STATION_ID}", json={"stories": [BIRDS]},
                      headers=headers).status_code == status
    assert client.get(OVERRIDES, headers=AUTH).get_json()["pins"] == []


def test_overrides_api_is_absent_without_a_token(models_dir: Path) -> None:
    client = create_app(Settings(models_dir=str(models_dir)), watch=False).test_client()
    assert client.get(OVERRIDES, headers=AUTH).status_code == 404
    assert client.get("/editor").status_code == 404


def test_title_search_finds_words_in_any_order(models_dir: Path) -> None:
    client = make_app(models_dir).test_client()
    found = client.get("/v1/admin/search", query_string={"q": "station space"}, headers=AUTH).get_json()["results"]
    assert SPACE_STATION_ID in ids(found)
    assert all("space" in r["title"].lower() and "station" in r["title"].lower() for r in found)
    exact = client.get("/v1/admin/search", query_string={"q": BIRDS}, headers=AUTH).get_json()["results"]
    assert ids(exact) == [BIRDS]
    assert client.get("/v1/admin/search", headers=AUTH).status_code == 400


def test_override_responses_match_the_openapi_document(models_dir: Path) -> None:
    client = make_app(models_dir).test_client()
    spec = client.get("/openapi.json").get_json()
    calls = [
        ("put", "/v1/admin/overrides/pins/{article_id}", pin(client, SPACE_STATION_ID, ["x"], allow_inactive=True)),
        ("put", "/v1/admin/overrides/pins/{article_id}", pin(client, SPACE_STATION_ID, ["x"])),
        ("post", "/v1/admin/overrides/blocks", client.post(f"{OVERRIDES}/blocks", json={
            "article_id": SPACE_STATION_ID, "story_id": BIRDS}, headers=AUTH)),
        ("post", "/v1/admin/overrides/exclusions", client.post(f"{OVERRIDES}/exclusions", json={"story_id": BIRDS},
                                                               headers=AUTH)),
        ("delete", "/v1/admin/overrides/exclusions/{story_id}", client.delete(f"{OVERRIDES}/exclusions/nope",
                                                                              headers=AUTH)),
        ("get", "/v1/admin/overrides", client.get(OVERRIDES, headers=AUTH)),
        ("get", "/v1/admin/overrides", client.get(OVERRIDES)),
        ("get", "/v1/admin/overrides/audit", client.get(f"{OVERRIDES}/audit", headers=AUTH)),
        ("get", "/v1/admin/search", client.get("/v1/admin/search?q=space", headers=AUTH)),
        ("get", "/v1/articles/{article_id}/related", client.get(f"/v1/articles/{SPACE_STATION_ID}/related")),
    ]
    for method, path, response in calls:
        _validate(spec, path, method, response)


def test_a_database_failure_is_a_503_and_lists_keep_their_overrides(models_dir: Path, tmp_path: Path) -> None:
    client = make_app(models_dir, f"sqlite:///{tmp_path / 'own.db'}").test_client()
    pin(client, SPACE_STATION_ID, [BIRDS])
    client.application.extensions["relatedly"].database.dispose()
    (tmp_path / "own.db").unlink()  # the next connection opens an empty file: no tables
    failed = client.post(f"{OVERRIDES}/exclusions", json={"story_id": BIRDS}, headers=AUTH)
    assert failed.status_code == 503 and failed.get_json()["error"]["code"] == "database_unavailable"
    assert ids(related(client, limit=3))[0] == BIRDS

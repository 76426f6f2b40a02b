"""`POST /v1/events` through the Flask test client, stored in a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service import create_app
from service.config import Settings
from service.events.routes import MAX_EVENT_BYTES, event_writer
from storage.events import position_stats, version_stats
from storage.schema import events
from tests.conftest import SPACE_STATION_ID

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture()
def events_app(sample_models_dir: Path, database_url: str):
    return create_app(Settings(models_dir=str(sample_models_dir), database_url=database_url,
                               events_per_minute=0), watch=False)


@pytest.fixture()
def served(events_app) -> dict[str, Any]:
    """A list the API served for the space-station article (what a widget would report on)."""
    return events_app.test_client().get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=5").get_json()


def impression(served: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"type": "impression", "list_id": "0123456789abcdef", "article_id": served["article_id"],
            "model_version": served["model_version"], "items": [s["id"] for s in served["related"]], **changes}


def click(served: dict[str, Any], at: int = 2, **changes: Any) -> dict[str, Any]:
    return {"type": "click", "list_id": "0123456789abcdef", "article_id": served["article_id"],
            "model_version": served["model_version"], "target": served["related"][at - 1]["id"],
            "position": at} | changes


def post(client, event: Any, content_type: str = "text/plain;charset=UTF-8"):
    body = event if isinstance(event, bytes | str) else json.dumps(event)
    return client.post("/v1/events", data=body, content_type=content_type)


def stored_rows(app) -> int:
    assert event_writer(app).flush()
    with app.extensions["relatedly"].database.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def test_an_impression_and_a_click_are_stored_per_position(events_app, served) -> None:
    client = events_app.test_client()
    assert post(client, impression(served)).status_code == 204
    response = post(client, click(served, 2), content_type="application/json")
    assert response.status_code == 204 and response.data == b""
    assert event_writer(events_app).flush()
    database = events_app.extensions["relatedly"].database
    stats = position_stats(database, LONG_AGO)
    assert [(s.position, s.impressions, s.clicks) for s in stats] == [(1, 1, 0), (2, 1, 1), (3, 1, 0), (4, 1, 0),
                                                                       (5, 1, 0)]
    assert {s.model_version for s in stats} == {served["model_version"]}
    (version,) = version_stats(database, LONG_AGO)
    assert (version.lists, version.clicked_lists, version.impressions, version.clicks) == (1, 1, 5, 1)
    assert position_stats(database, datetime.now(UTC) + timedelta(minutes=1)) == []


def _with(event_of, **changes):
    return lambda served: event_of(served, **changes)


INVALID = {
    "unknown type": _with(impression, type="view"),
    "unknown field": _with(impression, ip="1.2.3.4"),
    "missing field": lambda s: {k: v for k, v in impression(s).items() if k != "list_id"},
    "repeated story": lambda s: impression(s, items=[impression(s)["items"][0]] * 2),
    "own article in list": lambda s: impression(s, items=[s["article_id"]]),
    "no items": _with(impression, items=[]),
    "items not a list": _with(impression, items="a,b"),
    "too many items": lambda s: impression(s, items=[f"x{i}" for i in range(51)]),
    "hostile model version": _with(impression, model_version="../../etc"),
    "bad list id": _with(impression, list_id="<script>"),
    "position zero": _with(click, position=0),
    "position past the list": _with(click, position=51),
    "position as text": _with(click, position="2"),
    "position as bool": _with(click, position=True),
    "target not a string": _with(click, target=7),
    "not an object": lambda s: [impression(s)],
}


UNKNOWN = {
    "unknown article": (_with(impression, article_id="no-such-article"), "article_not_found"),
    "unknown story": (lambda s: impression(s, items=[*impression(s)["items"][:4], "no-such-story"]),
                      "article_not_found"),
    "unknown target": (_with(click, target="no-such-story"), "article_not_found"),
    "unknown model version": (_with(impression, model_version="20000101T000000000000Z-1"), "model_version_not_found"),
}


def test_events_naming_what_does_not_exist_get_404_json_and_nothing_is_stored(events_app, served) -> None:
    client = events_app.test_client()
    answers = {case: post(client, event_of(served)) for case, (event_of, _) in UNKNOWN.items()}
    assert {case: (r.status_code, r.get_json()["error"]["code"]) for case, r in answers.items()} == {
        case: (404, code) for case, (_, code) in UNKNOWN.items()}
    assert stored_rows(events_app) == 0


def test_invalid_events_get_400_json_and_nothing_is_stored(events_app, served) -> None:
    client = events_app.test_client()
    answers = {case: post(client, event_of(served)) for case, event_of in INVALID.items()}
    assert {case: (r.status_code, r.get_json()["error"]["code"]) for case, r in answers.items()} == {
        case: (400, "invalid_event") for case in INVALID}
    assert stored_rows(events_app) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "text/plain", 400, "invalid_json"),
        (b"\xff\xfe", "text/plain", 400, "invalid_json"),
        (b"{}", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b" " * (MAX_EVENT_BYTES + 1), "text/plain", 413, "payload_too_large"),
    ],
)
def test_malformed_bodies_are_refused(events_app, body: bytes, content_type: str, status: int, code: str) -> None:
    response = post(events_app.test_client(), body, content_type)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert stored_rows(events_app) == 0


def test_an_event_just_under_the_size_limit_is_accepted(events_app, served) -> None:
    body = json.dumps(impression(served))
    padded = body[:-1] + " " * (MAX_EVENT_BYTES - len(body)) + "}"
    assert len(padded.encode()) == MAX_EVENT_BYTES
    assert post(events_app.test_client(), padded).status_code == 204
    assert stored_rows(events_app) == 5


def test_a_client_beyond_its_rate_gets_429(sample_models_dir: Path, tmp_path: Path, served) -> None:
    app = create_app(Settings(models_dir=str(sample_models_dir), database_url=f"sqlite:///{tmp_path / 'r.db'}",
                              events_per_minute=3), watch=False)
    client, other = app.test_client(), app.test_client()
    statuses = [post(client, click(served)).status_code for _ in range(4)]
    assert statuses == [204, 204, 204, 429]
    limited = post(client, click(served))
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    other_client = post(other, click(served), content_type="text/plain")
    assert other_client.status_code == 429  # the test client has one address: same bucket
    elsewhere = other.post("/v1/events", data=json.dumps(click(served)), content_type="text/plain",
                           environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 204
    spoofed = other.post("/v1/events", data=json.dumps(click(served)), content_type="text/plain",
                         headers={"X-Forwarded-For": "198.51.100.1"})
    assert spoofed.status_code == 429  # no proxy is trusted by default: the header changes nothing
    assert stored_rows(app) == 4


def post_from(client, event: Any, forwarded_for: str):
    return client.post("/v1/events", data=json.dumps(event), content_type="text/plain",
                       headers={"X-Forwarded-For": forwarded_for}, environ_base={"REMOTE_ADDR": "10.0.0.2"})


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(sample_models_dir: Path, tmp_path: Path,
                                                                        served) -> None:
    app = create_app(Settings(models_dir=str(sample_models_dir), database_url=f"sqlite:///{tmp_path / 'p.db'}",
                              events_per_minute=2, trusted_proxies=1), watch=False)
    client = app.test_client()
    first = [post_from(client, click(served), f"203.0.113.{n % 2}").status_code for n in range(4)]
    assert first == [204] * 4  # two readers behind one proxy address: two buckets of 2
    assert post_from(client, click(served), "203.0.113.0").status_code == 429
    assert post_from(client, click(served), "203.0.113.0, 203.0.113.1").status_code == 429  # the last hop counts
    invalid = post_from(client, {"type": "click"}, "203.0.113.0")
    assert invalid.status_code == 429  # errors are counted against the same address
    assert post_from(client, click(served), "203.0.113.5").status_code == 204
    assert stored_rows(app) == 5


def test_an_event_naming_an_earlier_published_version_is_accepted(models_dir: Path, tmp_path: Path) -> None:
    """Pages drawn by the previous model report its version for a while after a switch."""
    app = create_app(Settings(models_dir=str(models_dir), database_url=f"sqlite:///{tmp_path / 'e.db'}",
                              events_per_minute=0), watch=False)
    client = app.test_client()
    served = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=5").get_json()
    earlier = "20000101T000000000000Z-earlier"
    shutil.copytree(models_dir / "versions" / served["model_version"], models_dir / "versions" / earlier)
    assert post(client, impression(served, model_version=earlier)).status_code == 204
    assert event_writer(app).flush()
    assert {s.model_version for s in position_stats(app.extensions["relatedly"].database, LONG_AGO)} == {earlier}


def test_an_arm_and_an_explored_slot_are_stored_with_the_rows(events_app, served) -> None:
    """Issue 26's optional fields: the experiment arm on every row, `explored` on the explored story's rows."""
    client = events_app.test_client()
    assert post(client, impression(served, arm="learned", explored=5)).status_code == 204
    assert post(client, click(served, at=5, arm="learned", explored=True)).status_code == 204
    assert post(client, impression(served, list_id="without-them")).status_code == 204  # today's format
    assert stored_rows(events_app) == 11
    with events_app.extensions["relatedly"].database.engine.connect() as conn:
        rows = conn.execute(select(events.c.list_id, events.c.type, events.c.position, events.c.arm,
                                   events.c.explored).order_by(events.c.id)).all()
    assert [r.arm for r in rows] == ["learned"] * 6 + [None] * 5
    assert [(r.type, r.position) for r in rows if r.explored] == [("impression", 5), ("click", 5)]


@pytest.mark.parametrize("changes", [{"arm": "Learned!"}, {"arm": 3}, {"arm": "x" * 17}, {"explored": 0},
                                     {"explored": 6}, {"explored": True}, {"explored": "5"}])
def test_a_bad_arm_or_explored_position_is_refused(events_app, served, changes: dict[str, Any]) -> None:
    response = post(events_app.test_client(), impression(served, **changes))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_event"
    assert stored_rows(events_app) == 0


def test_a_clicks_explored_flag_must_be_a_boolean(events_app, served) -> None:
    response = post(events_app.test_client(), click(served, explored=1))
    assert response.status_code == 400 and "explored" in response.get_json()["error"]["message"]

"""Operating the service: Prometheus metrics, one JSON log line per request, and model switches announced
over Redis pub/sub reaching a running app at once (not at the next poll)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from recommender import artifacts
from recommender.artifacts import PUBLISH_CHANNEL
from service import create_app
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID
from training.cli import main

N_SAMPLE_ARTICLES = 156
RELATED_RULE = "/v1/articles/<path:article_id>/related"
ANNOUNCEMENT_SECONDS = 2.0


def scrape(client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of `/metrics`, keyed by (sample name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled series not created yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before, after, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- /metrics ---------------------------------------------------------------------------------------------------


def test_request_counter_and_latency_histogram_move_per_request(client) -> None:
    before = scrape(client)
    assert client.get(f"/v1/articles/{SPACE_STATION_ID}/related").status_code == 200
    assert client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3").status_code == 200
    assert client.get("/v1/articles/no-such-article/related").status_code == 404
    after = scrape(client)

    requests = "relatedly_http_requests_total"
    assert delta(before, after, requests, endpoint=RELATED_RULE, method="GET", status="200") == 2
    assert delta(before, after, requests, endpoint=RELATED_RULE, method="GET", status="404") == 1
    assert delta(before, after, requests, endpoint=RELATED_RULE, method="POST", status="200") == 0
    buckets = "relatedly_http_request_duration_seconds_bucket"
    assert delta(before, after, buckets, endpoint=RELATED_RULE, le="+Inf") == 3
    assert delta(before, after, "relatedly_http_request_duration_seconds_count", endpoint=RELATED_RULE) == 3
    assert value(after, buckets, endpoint=RELATED_RULE, le="2.5") <= value(after, buckets, endpoint=RELATED_RULE,
                                                                              le="+Inf")


def test_unknown_methods_share_one_series(client) -> None:
    """A method is the client's to choose: made-up ones must not each add a metric series."""
    before = scrape(client)
    for method in ("BREW", "WHEN1", "X-ANY"):
        assert client.open(f"/v1/articles/{SPACE_STATION_ID}/related", method=method).status_code == 405
    after = scrape(client)
    requests = "relatedly_http_requests_total"
    assert delta(before, after, requests, endpoint="unmatched", method="other", status="405") == 3
    assert not any(dict(labels).get("method") == "BREW" for _, labels in after)


def test_cache_hits_and_misses_are_counted(client) -> None:
    url = f"/v1/articles/{SPACE_STATION_ID}/related?limit=7"
    before = scrape(client)
    client.get(url)
    middle = scrape(client)
    client.get(url)
    after = scrape(client)
    cache = "relatedly_cache_requests_total"
    assert (delta(before, middle, cache, result="miss"), delta(before, middle, cache, result="hit")) == (1, 0)
    assert (delta(middle, after, cache, result="miss"), delta(middle, after, cache, result="hit")) == (0, 1)


def test_model_gauges_describe_the_served_model(app, client) -> None:
    loaded = app.extensions["relatedly"].store.current()
    samples = scrape(client)
    assert value(samples, "relatedly_model_articles") == N_SAMPLE_ARTICLES
    assert value(samples, "relatedly_model_info", version=loaded.version) == 1
    expected_age = time.time() - loaded.created_at
    assert abs(value(samples, "relatedly_model_age_seconds") - expected_age) < 5
    assert value(samples, "relatedly_model_created_timestamp_seconds") == pytest.approx(loaded.created_at)


def test_short_lists_are_counted(client) -> None:
    url = f"/v1/articles/{SPACE_STATION_ID}/related"
    before = scrape(client)
    short = client.get(f"{url}?min_score=0.9&limit=10").get_json()
    middle = scrape(client)
    full = client.get(f"{url}?limit=5").get_json()
    after = scrape(client)
    assert short["count"] < 10 and full["count"] == 5
    lists = "relatedly_related_lists_total"
    assert (delta(before, middle, lists, short="true"), delta(before, middle, lists, short="false")) == (1, 0)
    assert (delta(middle, after, lists, short="true"), delta(middle, after, lists, short="false")) == (0, 1)


def test_successful_model_loads_are_counted(client, sample_models_dir: Path) -> None:
    before = scrape(client)
    create_app(Settings(models_dir=str(sample_models_dir)), watch=False)
    after = scrape(client)
    assert delta(before, after, "relatedly_model_reloads_total", result="success") == 1
    assert delta(before, after, "relatedly_model_reloads_total", result="failure") == 0


# --- logs -------------------------------------------------------------------------------------------------------


def test_one_json_log_line_per_request(app, client, log_lines) -> None:
    version = app.extensions["relatedly"].store.current().version
    responses = [
        client.post("/v1/related", json={"title": "Rockets", "body": "A rocket launch."},
                    headers={"X-Request-ID": "from-the-edge-1"}),
        client.get(f"/v1/articles/{SPACE_STATION_ID}/related"),
        client.get("/v1/articles/no-such-article"),
    ]
    lines = [line for line in log_lines() if line["event"] == "request"]
    assert len(lines) == 3
    for line, response in zip(lines, responses, strict=True):
        assert {"ts", "level", "event", "method", "path", "status", "duration_ms", "cache", "model_version",
                "request_id"} <= set(line)
        assert line["level"] == "info"
        assert line["status"] == response.status_code
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert line["model_version"] == version
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    post, get, missing = lines
    assert (post["method"], post["path"], post["cache"], post["request_id"]) == (
        "POST", "/v1/related", "miss", "from-the-edge-1")
    assert (get["method"], get["path"], get["status"]) == ("GET", f"/v1/articles/{SPACE_STATION_ID}/related", 200)
    assert (missing["path"], missing["status"], missing["cache"]) == ("/v1/articles/no-such-article", 404, None)


def test_log_lines_are_single_lines_even_for_odd_paths(client, log_lines) -> None:
    client.get("/v1/articles/line%0Abreak%22quote")
    (line,) = [line for line in log_lines() if line["event"] == "request"]
    assert line["path"] == '/v1/articles/line\nbreak"quote'


# --- model switches over Redis pub/sub --------------------------------------------------------------------------


def subscribers(server: redis.Redis) -> int:
    return dict(server.pubsub_numsub(PUBLISH_CHANNEL)).get(PUBLISH_CHANNEL.encode(), 0)


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    """Seconds until `condition()` held; fails the test after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"condition not met within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - started


def served_version(client) -> str | None:
    return client.get("/readyz").get_json().get("model_version")


@pytest.fixture()
def listening_app(models_dir: Path, redis_url: str, cache_prefix: str):
    """An app that polls only every 10 minutes, subscribed to model announcements; its watcher stopped after."""
    server = redis.Redis.from_url(redis_url)
    baseline = subscribers(server)
    app = create_app(Settings(models_dir=str(models_dir), redis_url=redis_url, cache_prefix=cache_prefix,
                              reload_seconds=600), watch=True)
    wait_for(lambda: subscribers(server) > baseline, 5)
    yield app
    app.extensions["relatedly"].store.stop_watching()


def test_a_published_model_is_served_at_once_and_a_rollback_too(
    listening_app, models_dir: Path, redis_url: str, fresh_process_logging
) -> None:
    client = listening_app.test_client()
    old = served_version(client)
    assert old == artifacts.read_current(models_dir)

    assert main(["train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(models_dir), "--top-k", "10",
                 "--redis-url", redis_url]) == 0
    new = artifacts.read_current(models_dir)
    assert new != old
    wait_for(lambda: served_version(client) == new, ANNOUNCEMENT_SECONDS)
    body = client.get(f"/v1/articles/{SPACE_STATION_ID}/related").get_json()
    assert body["model_version"] == new

    assert main(["models", "--models-dir", str(models_dir), "--redis-url", redis_url, "rollback"]) == 0
    assert artifacts.read_current(models_dir) == old
    wait_for(lambda: served_version(client) == old, ANNOUNCEMENT_SECONDS)


def test_stopping_the_watcher_also_stops_listening(models_dir: Path, redis_url: str, cache_prefix: str) -> None:
    """An app whose watcher was stopped must not stay subscribed (and keep swapping models) forever."""
    server = redis.Redis.from_url(redis_url)
    baseline = subscribers(server)
    app = create_app(Settings(models_dir=str(models_dir), redis_url=redis_url, cache_prefix=cache_prefix,
                              reload_seconds=600), watch=True)
    wait_for(lambda: subscribers(server) > baseline, 5)
    app.extensions["relatedly"].store.stop_watching()
    wait_for(lambda: subscribers(server) <= baseline, ANNOUNCEMENT_SECONDS)

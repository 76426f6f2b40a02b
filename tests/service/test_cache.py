"""Caching against a real Redis server: hit, miss, version change, Redis down mid-run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis

from publishing.train import train_and_publish
from recommender import artifacts
from service import create_app
from service.api.cache import MemoryCache, RedisCache, cache_key
from service.config import Settings
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID, RedisProcess, free_port

URL = f"/v1/articles/{SPACE_STATION_ID}/related?limit=4"


def redis_app(models_dir: Path, redis_url: str, prefix: str, **settings):
    return create_app(
        Settings(models_dir=str(models_dir), redis_url=redis_url, cache_prefix=prefix, **settings), watch=False
    )


def test_miss_then_hit_stores_json_under_a_versioned_key(sample_models_dir, redis_url, cache_prefix) -> None:
    client = redis_app(sample_models_dir, redis_url, cache_prefix).test_client()
    first = client.get(URL)
    second = client.get(URL)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.get_json() == second.get_json()

    version = first.get_json()["model_version"]
    server = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in server.scan_iter(f"{cache_prefix}:*")]
    assert len(keys) == 1 and keys[0].startswith(f"{cache_prefix}:v1:{version}:o0:related:{SPACE_STATION_ID}:")
    assert "limit=4" in keys[0]
    assert json.loads(server.get(keys[0])) == first.get_json()
    assert 0 < server.ttl(keys[0]) <= 300


def test_every_parameter_is_part_of_the_key(sample_models_dir, redis_url, cache_prefix) -> None:
    client = redis_app(sample_models_dir, redis_url, cache_prefix).test_client()
    client.get(URL)
    other = client.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=5")
    assert other.headers["X-Cache"] == "miss"
    assert len(other.get_json()["related"]) == 5


def test_a_new_model_never_sees_the_old_models_entries(models_dir, redis_url, cache_prefix) -> None:
    app = redis_app(models_dir, redis_url, cache_prefix)
    client = app.test_client()
    old = client.get(URL)
    assert client.get(URL).headers["X-Cache"] == "hit"

    new_version = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=50).version
    assert app.extensions["relatedly"].store.refresh()
    fresh = client.get(URL)
    assert fresh.headers["X-Cache"] == "miss"
    assert fresh.get_json()["model_version"] == new_version != old.get_json()["model_version"]


def test_redis_down_mid_run_loses_no_request(sample_models_dir, cache_prefix) -> None:
    server = RedisProcess().start()
    try:
        client = redis_app(sample_models_dir, server.url, cache_prefix, cache_timeout_ms=100).test_client()
        assert client.get(URL).status_code == 200
        assert client.get(URL).headers["X-Cache"] == "hit"
        assert client.get("/readyz").get_json()["cache"]["state"] == "ok"
    finally:
        server.stop()
    for _ in range(5):
        response = client.get(URL)
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "miss"
        assert len(response.get_json()["related"]) == 4
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "degraded"
    assert ready.get_json()["cache"]["state"] == "degraded"


def test_unreachable_redis_from_the_start_is_skipped_quickly(sample_models_dir, cache_prefix) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = redis_app(sample_models_dir, closed, cache_prefix, cache_retry_seconds=60).test_client()
    started = time.perf_counter()
    statuses = [client.get(URL).status_code for _ in range(20)]
    assert statuses == [200] * 20
    # one failed connection attempt, then Redis is skipped for cache_retry_seconds
    assert time.perf_counter() - started < 2.0


def test_redis_cache_counts_errors_and_recovers(redis_url, cache_prefix) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", retry_seconds=0, prefix=cache_prefix)
    assert cache.get("k") is None
    cache.set("k", b"v", 10)
    assert cache.errors == 2
    assert cache.status()["state"] == "degraded"

    healthy = RedisCache(redis_url, prefix=cache_prefix)
    healthy.set("k", b"v", 10)
    assert healthy.get("k") == b"v"
    assert healthy.status() == {"backend": "redis", "state": "ok", "error": None}


def test_memory_cache_expires_and_evicts() -> None:
    cache = MemoryCache(max_entries=2)
    cache.set("a", b"1", ttl_seconds=1)
    cache.set("b", b"2", ttl_seconds=60)
    cache.get("a")  # a is now the most recently used
    cache.set("c", b"3", ttl_seconds=60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")
    time.sleep(1.05)
    assert cache.get("a") is None


def test_cache_keys_are_canonical_and_versioned() -> None:
    assert cache_key("v1", "related", "x", {"b": 2, "a": 1}) == cache_key("v1", "related", "x", {"a": 1, "b": 2})
    assert cache_key("v1", "related", "x", {"a": 1}) != cache_key("v2", "related", "x", {"a": 1})
    assert cache_key("v", "related", "a:b/c", {}) != cache_key("v", "related", "a", {"b/c": ""})


def test_published_models_dir_is_untouched_by_serving(sample_models_dir) -> None:
    """House rule 4: the service never writes models."""
    before = sorted(p.name for p in (sample_models_dir / artifacts.VERSIONS).iterdir())
    create_app(Settings(models_dir=str(sample_models_dir)), watch=False).test_client().get(URL)
    assert sorted(p.name for p in (sample_models_dir / artifacts.VERSIONS).iterdir()) == before

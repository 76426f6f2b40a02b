"""Tell running services at once that a new model is current (Redis pub/sub); polling is the fallback."""

from __future__ import annotations

import logging

import redis

from recommender.artifacts import PUBLISH_CHANNEL

log = logging.getLogger("relatedly.notify")


def announce_publish(redis_url: str | None, version: str) -> bool:
    """Publish the new version on the models channel; never fails the job (services also poll)."""
    if not redis_url:
        return False
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        receivers = client.publish(PUBLISH_CHANNEL, version)
    except redis.RedisError as exc:
        log.warning("publish_announcement_failed version=%s error=%s (services will notice by polling)", version, exc)
        return False
    log.info("publish_announced version=%s channel=%s receivers=%d", version, PUBLISH_CHANNEL, receivers)
    return True

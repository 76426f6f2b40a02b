"""Listens on Redis pub/sub for "a new model is current" so workers swap at once, not at the next poll."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from recommender.artifacts import PUBLISH_CHANNEL

log = logging.getLogger("relatedly.model_events")
RECONNECT_SECONDS = 2.0


class ModelEventListener:
    """A daemon thread that calls `on_publish()` for every announcement; reconnects after errors."""

    def __init__(self, redis_url: str, on_publish: Callable[[], object], channel: str = PUBLISH_CHANNEL) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.on_publish = on_publish
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"events-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=1)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                try:
                    while not self._stop.is_set():
                        if pubsub.get_message(timeout=0.5) is not None:
                            self.on_publish()
                finally:
                    pubsub.close()
            except redis.RedisError as exc:
                log.warning("model_events_unavailable", extra={"fields": {"error": str(exc)}})
                self._stop.wait(RECONNECT_SECONDS)

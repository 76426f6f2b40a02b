"""Response caches: Redis when configured, an in-process LRU otherwise. Both fail open.

The cache is an optimisation, never a dependency: every Redis call has a short socket timeout, any
Redis error is counted and swallowed, and after a failure Redis is skipped for a while so a dead
server does not add its timeout to every request. Keys carry the model version, so a new model
never sees the old model's entries. Values are JSON bytes, never pickles.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import redis

from service.pipeline import metrics

log = logging.getLogger("relatedly.cache")

KEY_SCHEMA = "v1"


def cache_key(model_version: str, endpoint: str, article_id: str, params: Mapping[str, Any] | str) -> str:
    """A key naming the model version, the endpoint, the article and every parameter (sorted).

    `params` may be given already encoded (`encode_params`), for keys built on every request.
    """
    encoded = params if isinstance(params, str) else encode_params(params)
    return f"{KEY_SCHEMA}:{model_version}:{endpoint}:{quote(article_id, safe='')}:{encoded}"


def encode_params(params: Mapping[str, Any]) -> str:
    """The parameters in one order-independent string."""
    return "&".join(f"{name}={_escape(params[name])}" for name in sorted(params))


def _escape(value: Any) -> str:
    """Strings may hold '&', '=' or ':' (excluded ids); numbers, booleans and None never do."""
    return quote(value, safe=",") if isinstance(value, str) else str(value)


class ResponseCache(Protocol):
    """What the API needs of a cache."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    def status(self) -> dict[str, Any]: ...


class MemoryCache:
    """Thread-safe in-process LRU with per-entry expiry: the embedded default when no Redis is set."""

    def __init__(self, max_entries: int = 10_000, prefix: str = "relatedly") -> None:
        self.max_entries = max_entries
        self.prefix = prefix
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        full = f"{self.prefix}:{key}"
        with self._lock:
            entry = self._entries.get(full)
            if entry is None:
                return None
            expires_at, value = entry
            if expires_at <= time.monotonic():
                del self._entries[full]
                return None
            self._entries.move_to_end(full)
            return value

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[f"{self.prefix}:{key}"] = (time.monotonic() + ttl_seconds, value)
            self._entries.move_to_end(f"{self.prefix}:{key}")
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def status(self) -> dict[str, Any]:
        return {"backend": "memory", "state": "ok", "entries": len(self._entries)}


class RedisCache:
    """Redis-backed cache that never lets Redis fail or slow down a request for long."""

    def __init__(
        self, url: str, *, timeout_ms: int = 50, retry_seconds: float = 5.0, prefix: str = "relatedly"
    ) -> None:
        timeout = timeout_ms / 1000
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self.retry_seconds = retry_seconds
        self.prefix = prefix
        self._skip_until = 0.0
        self.last_error: str | None = None
        self.errors = 0

    def get(self, key: str) -> bytes | None:
        if self._skipping():
            return None
        try:
            return self.client.get(f"{self.prefix}:{key}")
        except redis.RedisError as exc:
            self._failed("get", exc)
            return None

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if self._skipping():
            return
        try:
            self.client.set(f"{self.prefix}:{key}", value, ex=ttl_seconds)
        except redis.RedisError as exc:
            self._failed("set", exc)

    def status(self) -> dict[str, Any]:
        """Pings Redis (unless backing off) so `/readyz` shows `degraded` when it is down."""
        if not self._skipping():
            try:
                self.client.ping()
                self.last_error = None
            except redis.RedisError as exc:
                self._failed("ping", exc)
        state = "degraded" if self._skipping() or self.last_error else "ok"
        return {"backend": "redis", "state": state, "error": self.last_error if state != "ok" else None}

    def _skipping(self) -> bool:
        return time.monotonic() < self._skip_until

    def _failed(self, operation: str, exc: Exception) -> None:
        self.errors += 1
        metrics.CACHE.labels(result="error").inc()
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._skip_until = time.monotonic() + self.retry_seconds
        log.warning("cache_unavailable", extra={"fields": {
            "operation": operation, "error": self.last_error, "retry_in_s": self.retry_seconds}})


def build_cache(
    redis_url: str | None, *, timeout_ms: int, retry_seconds: float, memory_entries: int, prefix: str
) -> ResponseCache:
    """Redis when a URL is configured, else the in-process cache."""
    if redis_url:
        return RedisCache(redis_url, timeout_ms=timeout_ms, retry_seconds=retry_seconds, prefix=prefix)
    return MemoryCache(memory_entries, prefix=prefix)

"""A per-client token bucket: `limit_per_minute` requests a minute on average, bursts up to that many.

In-process, so each server worker keeps its own buckets (a client may get up to workers × the limit
when its requests spread over workers). The number of clients remembered is bounded: the least
recently seen are forgotten first, which only ever lets a forgotten client start afresh.
`client_address` names the client for this limiter and the editor's sign-in limit alike.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

MAX_ADDRESS_CHARS = 64  # an IPv6 address with a zone fits; nothing longer becomes a bucket key


def client_address(environ: Mapping[str, Any], trusted_proxies: int) -> str:
    """The client's address: REMOTE_ADDR, or behind `trusted_proxies` reverse proxies the address the
    outermost of them put in X-Forwarded-For (the `trusted_proxies`-th entry from the right; each proxy
    appends the address it was connected from). Entries further left are whatever the client sent, so
    they are never believed; a header with fewer entries than proxies means it did not come through
    them all, and REMOTE_ADDR is used."""
    if trusted_proxies:
        hops = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(hops) >= trusted_proxies and hops[-trusted_proxies].strip():
            return hops[-trusted_proxies].strip()[:MAX_ADDRESS_CHARS]
    return environ.get("REMOTE_ADDR") or "unknown"


class RateLimiter:
    """`allow(client)` is True while the client has tokens left; `limit_per_minute=0` allows everything."""

    def __init__(self, limit_per_minute: int, *, max_clients: int = 50_000) -> None:
        self.capacity = float(limit_per_minute)
        self.per_second = limit_per_minute / 60.0
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client → (tokens, when)
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        if self.capacity == 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.per_second)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return allowed

    def retry_after_seconds(self) -> int:
        """How long until one more request is allowed for a client with none left."""
        return max(1, round(1 / self.per_second)) if self.per_second else 0

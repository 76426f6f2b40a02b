"""A per-client token bucket: `limit_per_minute` requests a minute on average, bursts up to that many.

In-process, so each gunicorn worker keeps its own buckets (a client may get up to workers × the limit
when its requests spread over workers). The number of clients remembered is bounded: the least
recently seen are forgotten first, which only ever lets a forgotten client start afresh.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


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

"""Per-request bookkeeping: request id, metrics, and one JSON log line per request.

`record_request` is the one place that counts and logs a request, for the Flask hooks and for the
WSGI layer for default lists (`service.api.default_lists`) alike, so both give the same metrics and log line.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time

from flask import Flask, Response, g, request
from prometheus_client import Counter, Histogram

from service.extensions import relatedly
from service.pipeline import metrics
from service.pipeline.logs import write_line

log = logging.getLogger("relatedly.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Methods are the client's: any other token is counted as "other", so a client cannot grow the series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def register_request_hooks(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def request_id_from(incoming: str) -> str:
    """The caller's `X-Request-ID` when it is a sane token, else a new random one."""
    return incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)


def request_headers(request_id: str, model_version: str | None, cache: str | None) -> list[tuple[str, str]]:
    """The headers that say which request, model version and cache answered."""
    headers = [("X-Request-ID", request_id)]
    if model_version:
        headers.append(("X-Model-Version", model_version))
    if cache:
        headers.append(("X-Cache", cache))
    return headers


def record_request(
    *, endpoint: str, method: str, path: str, status: int, duration_seconds: float, cache: str | None,
    model_version: str | None, request_id: str,
) -> None:
    """Count the request, observe its latency and write its log line."""
    counted, timed = _series(endpoint, method if method in _METHODS else "other", status)
    counted.inc()
    timed.observe(duration_seconds)
    if log.isEnabledFor(logging.INFO):
        write_line(log, "request", {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration_seconds * 1000, 3),
            "cache": cache,
            "model_version": model_version,
            "request_id": request_id,
        })


@functools.lru_cache(maxsize=256)  # endpoints × known methods × statuses: few label sets
def _series(endpoint: str, method: str, status: int) -> tuple[Counter, Histogram]:
    """The request counter's and latency histogram's children for these labels, bound once.

    `labels()` takes a lock and builds its key on every call; the few label sets (endpoint rules,
    never raw paths) are bound once per process instead.
    """
    return metrics.REQUESTS.labels(endpoint, method, str(status)), metrics.LATENCY.labels(endpoint)


def _served_version() -> str | None:
    loaded = relatedly().store.current()
    return loaded.version if loaded else None


def _start() -> None:
    g.started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID", ""))
    g.cache = None


def _finish(response: Response) -> Response:
    state = g._get_current_object()
    req = request._get_current_object()
    duration = time.perf_counter() - getattr(state, "started", time.perf_counter())
    version = getattr(state, "model_version", None) or _served_version()
    request_id, cache = getattr(state, "request_id", ""), getattr(state, "cache", None)
    headers = response.headers
    for name, value in request_headers(request_id, version, cache):
        if name not in headers:  # a route may name the version it answered with itself
            headers[name] = value
    record_request(
        endpoint=req.url_rule.rule if req.url_rule else "unmatched", method=req.method, path=req.path,
        status=response.status_code, duration_seconds=duration, cache=cache, model_version=version,
        request_id=request_id,
    )
    return response

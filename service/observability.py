"""Per-request bookkeeping: request id, metrics, and one JSON log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from service import metrics
from service.extensions import relatedly

log = logging.getLogger("relatedly.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def register_request_hooks(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.cache = None


def _finish(response: Response) -> Response:
    duration = time.perf_counter() - g.get("started", time.perf_counter())
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    loaded = relatedly().store.current()
    version = g.get("model_version") or (loaded.version if loaded else None)
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if version:
        response.headers.setdefault("X-Model-Version", version)
    if g.get("cache"):
        response.headers["X-Cache"] = g.cache
    metrics.REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
    metrics.LATENCY.labels(endpoint=endpoint).observe(duration)
    log.info("request", extra={"fields": {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(duration * 1000, 3),
        "cache": g.get("cache"),
        "model_version": version,
        "request_id": g.get("request_id"),
    }})
    return response

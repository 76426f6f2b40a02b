"""Per-request bookkeeping: request id, metrics, and one JSON log line per request."""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, Response, g, request

from service import metrics
from service.extensions import relatedly

log = logging.getLogger("relatedly.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def register_request_hooks(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def _served_version() -> str | None:
    loaded = relatedly().store.current()
    return loaded.version if loaded else None


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)
    g.cache = None


def _finish(response: Response) -> Response:
    state = g._get_current_object()
    req = request._get_current_object()
    duration = time.perf_counter() - getattr(state, "started", time.perf_counter())
    endpoint = req.url_rule.rule if req.url_rule else "unmatched"
    version = getattr(state, "model_version", None) or _served_version()
    request_id, cache = getattr(state, "request_id", ""), getattr(state, "cache", None)
    headers = response.headers
    headers["X-Request-ID"] = request_id
    if version:
        headers.setdefault("X-Model-Version", version)
    if cache:
        headers["X-Cache"] = cache
    status = response.status_code
    metrics.REQUESTS.labels(endpoint, req.method, str(status)).inc()
    metrics.LATENCY.labels(endpoint).observe(duration)
    if log.isEnabledFor(logging.INFO):
        log.info("request", extra={"fields": {
            "method": req.method,
            "path": req.path,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
            "cache": cache,
            "model_version": version,
            "request_id": request_id,
        }})
    return response

"""A WSGI fast path for `POST /v1/events`: a valid event is validated, queued and answered 204 without Flask.

Every page view sends an impression and every click a beacon, so events come at page-view rates like
the cached related lists (`service.fastpath`), and Flask's request cycle costs several times the
validation itself. This middleware answers exactly the valid events — same validation, rate limit,
headers, CORS, metrics and log line as the route in `service.events` — and hands every other request to
Flask unchanged, the body put back, so every error is answered by the one route that knows them all.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from service import metrics
from service.cors import cors_headers
from service.errors import ApiError
from service.event_writer import EventWriter
from service.events import EVENT_MEDIA_TYPES, MAX_EVENT_BYTES, RATE_CHECKED, event_rows
from service.extensions import Relatedly
from service.observability import record_request, request_id_from
from service.rate_limit import RateLimiter, client_address

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PATH = "/v1/events"


def register_events_fast_path(app: Flask) -> None:
    """Put the events fast path in front of the Flask app (after `register_events`)."""
    writer, limiter = app.extensions["relatedly_events"]
    app.wsgi_app = EventsFastPath(app.wsgi_app, app.extensions["relatedly"], writer, limiter)  # type: ignore[method-assign]


class EventsFastPath:
    """WSGI middleware: answer valid `POST /v1/events` with 204, pass every other request on."""

    def __init__(self, flask_wsgi: WsgiApp, parts: Relatedly, writer: EventWriter, limiter: RateLimiter) -> None:
        self.flask_wsgi, self.parts, self.writer, self.limiter = flask_wsgi, parts, writer, limiter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi(environ, start_response)
        started = time.perf_counter()
        loaded = self.parts.store.current()
        raw = _small_body(environ)
        if loaded is None or raw is None or _media_type(environ) not in EVENT_MEDIA_TYPES:
            return self.flask_wsgi(environ, start_response)
        environ[RATE_CHECKED] = self.limiter.allow(client_address(environ, self.parts.settings.trusted_proxies))
        if not environ[RATE_CHECKED]:
            return self.flask_wsgi(environ, start_response)
        try:
            rows = event_rows(json.loads(raw.decode("utf-8")), loaded, datetime.now(UTC),
                              self.parts.settings.models_dir)
        except (ApiError, ValueError):  # ValueError covers bad JSON and bad UTF-8
            return self.flask_wsgi(environ, start_response)
        if not self.writer.add(rows):
            return self.flask_wsgi(environ, start_response)
        metrics.EVENTS.labels(result="accepted").inc()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        headers = [("X-Request-ID", request_id), ("X-Model-Version", loaded.version)]
        vary, cors = cors_headers(environ.get("HTTP_ORIGIN"), "POST", self.parts.settings.cors_origins)
        if vary:
            headers.append(("Vary", "Origin"))
        start_response("204 NO CONTENT", headers + cors)
        record_request(endpoint=PATH, method="POST", path=PATH, status=204,
                       duration_seconds=time.perf_counter() - started, cache=None, model_version=loaded.version,
                       request_id=request_id)
        return []


def _small_body(environ: dict[str, Any]) -> bytes | None:
    """The body when it is at most `MAX_EVENT_BYTES` (put back for Flask), else None (Flask answers 413)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return None
    if length < 0 or length > MAX_EVENT_BYTES:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


def _media_type(environ: dict[str, Any]) -> str:
    return environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() or "text/plain"

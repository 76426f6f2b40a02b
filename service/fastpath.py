"""A WSGI fast path for the hottest request: an article's related list with default options, cached.

The page renderer asks for every article view with no options; once cached, the answer is fixed
bytes. Flask's full request cycle (routing, request and response objects, context locals, hooks)
costs several times the cache lookup itself, so this middleware answers exactly those requests
directly — same body, headers, 304s, CORS, metrics and log line as the Flask route (a test compares
them) — and hands everything else, cache misses included, to Flask unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import parse_etags

from service import metrics
from service.api import RELATED_RULE, cache_version, default_related_cache_key, etag_of, public_cache_control
from service.cors import cors_headers
from service.extensions import Relatedly
from service.observability import record_request, request_id_from

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_PREFIX, _SUFFIX = RELATED_RULE.split("<path:article_id>")


def register_fast_path(app: Flask) -> None:
    """Put the fast path in front of the Flask app (after the extensions are bound)."""
    app.wsgi_app = CachedRelatedFastPath(app.wsgi_app, app.extensions["relatedly"])  # type: ignore[method-assign]


class CachedRelatedFastPath:
    """WSGI middleware: serve cached default-option related lists, pass every other request on."""

    def __init__(self, flask_wsgi: WsgiApp, parts: Relatedly) -> None:
        self.flask_wsgi = flask_wsgi
        self.parts = parts
        self.cache_control = public_cache_control(parts.settings.http_max_age_seconds)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        article_id = _plain_related_request(environ)
        loaded = self.parts.store.current() if article_id is not None else None
        if article_id is None or loaded is None:
            return self.flask_wsgi(environ, start_response)
        key = default_related_cache_key(
            cache_version(loaded, self.parts.overrides.current()), article_id, self.parts.settings.default_limit,
            loaded.model.top_k,
        )
        body = self.parts.cache.get(key)
        if body is None:  # a miss: Flask computes, stores and counts it
            return self.flask_wsgi(environ, start_response)
        metrics.CACHE.labels(result="hit").inc()
        etag = etag_of(body)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        not_modified = parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains_weak(etag.strip('"'))
        headers = [] if not_modified else [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += [
            ("X-Model-Version", loaded.version),
            ("Cache-Control", self.cache_control),
            ("ETag", etag),
            ("X-Request-ID", request_id),
            ("X-Cache", "hit"),
        ]
        vary, cors = cors_headers(environ.get("HTTP_ORIGIN"), "GET", self.parts.settings.cors_origins)
        if vary:
            headers.append(("Vary", "Origin"))
        headers += cors
        status = 304 if not_modified else 200
        start_response("304 NOT MODIFIED" if not_modified else "200 OK", headers)
        record_request(
            endpoint=RELATED_RULE, method="GET", path=environ["PATH_INFO"], status=status,
            duration_seconds=time.perf_counter() - started, cache="hit", model_version=loaded.version,
            request_id=request_id,
        )
        return [] if not_modified else [body]


def _plain_related_request(environ: dict[str, Any]) -> str | None:
    """The article id of `GET /v1/articles/<id>/related` without a query string, else None.

    Only ASCII paths: others need WSGI's latin-1 → UTF-8 decoding, which Flask does for them.
    """
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
        return None
    path = environ.get("PATH_INFO", "")
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX) and path.isascii()):
        return None
    article_id = path[len(_PREFIX) : -len(_SUFFIX)]
    return article_id if article_id and not article_id.startswith("/") else None

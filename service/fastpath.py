"""A WSGI fast path for the hottest request: an article's related list with default options.

The page renderer asks for every article view with no options, for any article of the archive. The
model version holds every article's default list as the response document itself, encoded when it
was saved (`recommender.default_lists`, one memory-mapped file the workers share), so this middleware
answers that request for any article by slicing bytes: no cache lookup, no ranking, no encoding,
nothing to warm after a publish. Versions saved before the documents existed (or in another layout,
or with a configured default limit other than the lists') fall back to the response cache: a hit is
answered here too. Flask's full request cycle (routing, request and response objects, context
locals, hooks) costs several times either, so the fast path skips it — same body, headers, 304s,
CORS, metrics and log line as the Flask route (a test compares them) — and hands everything else,
cache misses included, to Flask unchanged.

Editorial rules that change an article's default list make that list stale: `set_default_list_bypass`
gives the fast path a predicate on the article id, and a default request for an article it names goes
to the Flask route, which computes it (and may cache it) like any other request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import parse_etags

from recommender.errors import UnknownArticleError
from service import metrics
from service.api import RELATED_RULE, cache_version, default_related_cache_key, etag_of, public_cache_control
from service.cors import cors_headers
from service.extensions import Relatedly
from service.observability import record_request, request_id_from

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ArticlePredicate = Callable[[str], bool]

_PREFIX, _SUFFIX = RELATED_RULE.split("<path:article_id>")


def register_fast_path(app: Flask) -> None:
    """Put the fast path in front of the Flask app (after the extensions are bound)."""
    app.wsgi_app = DefaultRelatedFastPath(app.wsgi_app, app.extensions["relatedly"])  # type: ignore[method-assign]


def set_default_list_bypass(app: Flask, predicate: ArticlePredicate | None) -> None:
    """Send default requests for the articles `predicate(article_id)` names to the Flask route.

    For rules kept outside the model version (editorial pins, blocks, exclusions): it is asked on
    every default request, so it must be cheap (a set lookup) and reflect the rules in force.
    """
    fast_path = app.wsgi_app
    if not isinstance(fast_path, DefaultRelatedFastPath):
        raise TypeError("the default-list fast path is not installed on this app")
    fast_path.bypass = predicate


class DefaultRelatedFastPath:
    """WSGI middleware: serve default-option related lists (precomputed, else cached), pass the rest on."""

    def __init__(self, flask_wsgi: WsgiApp, parts: Relatedly) -> None:
        self.flask_wsgi = flask_wsgi
        self.parts = parts
        self.cache_control = public_cache_control(parts.settings.http_max_age_seconds)
        self.bypass: ArticlePredicate | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        article_id = _plain_related_request(environ)
        loaded = self.parts.store.current() if article_id is not None else None
        if article_id is None or loaded is None or (self.bypass is not None and self.bypass(article_id)):
            return self.flask_wsgi(environ, start_response)
        bodies = loaded.default_bodies
        if bodies is not None and bodies.limit == min(self.parts.settings.default_limit, loaded.model.top_k):
            try:
                body = bodies.body(loaded.model.catalog_.index_of(article_id))
            except UnknownArticleError:  # Flask answers the 404
                return self.flask_wsgi(environ, start_response)
            source = "precomputed"
        else:
            version = cache_version(loaded, self.parts.overrides.current())
            body = self.parts.cache.get(default_related_cache_key(
                version, article_id, self.parts.settings.default_limit, loaded.model.top_k))
            if body is None:  # unknown id, or a miss: Flask answers, computes, stores and counts it
                return self.flask_wsgi(environ, start_response)
            metrics.CACHE.labels(result="hit").inc()
            source = "hit"
        etag = etag_of(body)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        not_modified = parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains_weak(etag.strip('"'))
        headers = [] if not_modified else [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += [
            ("X-Model-Version", loaded.version),
            ("Cache-Control", self.cache_control),
            ("ETag", etag),
            ("X-Request-ID", request_id),
            ("X-Cache", source),
        ]
        vary, cors = cors_headers(environ.get("HTTP_ORIGIN"), "GET", self.parts.settings.cors_origins)
        if vary:
            headers.append(("Vary", "Origin"))
        headers += cors
        status = 304 if not_modified else 200
        start_response("304 NOT MODIFIED" if not_modified else "200 OK", headers)
        record_request(
            endpoint=RELATED_RULE, method="GET", path=environ["PATH_INFO"], status=status,
            duration_seconds=time.perf_counter() - started, cache=source, model_version=loaded.version,
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

"""The response headers every route shares, decided once: caching (ETag, 304, Cache-Control) and the
per-request headers (X-Request-ID, X-Model-Version, X-Cache).

The Flask hooks (`service.pipeline.observability`, `service.api.routes.http_cacheable`) and the WSGI
layer in front of Flask for default lists (`service.api.default_lists`) both call these, with CORS from
`service.pipeline.cors` and the count and log line from `record_request`.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from werkzeug.http import parse_etags

from service.config import Settings
from service.pipeline.cors import cors_headers
from service.pipeline.observability import record_request, request_headers, request_id_from


def etag_of(body: bytes) -> str:
    """A strong validator for a response body (quoted, as the ETag header carries it)."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def public_cache_control(max_age_seconds: int) -> str:
    """`Cache-Control` of a successful GET, so a CDN may keep it."""
    return f"public, max-age={max_age_seconds}"


def client_has(etag: str, if_none_match: str | None) -> bool:
    """Whether the client's `If-None-Match` names `etag` (weak comparison): the answer is then a 304."""
    return parse_etags(if_none_match).contains_weak(etag.strip('"'))


def finish_get(
    environ: dict[str, Any], body: bytes, *, settings: Settings, model_version: str, cache: str, endpoint: str,
    started: float, cacheable: bool = True,
) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """Status line, headers and body of a JSON GET answered outside Flask (cacheable: ETag, 304 and a public
    `Cache-Control`; else `no-store`); counted and logged."""
    etag = etag_of(body)
    request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
    not_modified = cacheable and client_has(etag, environ.get("HTTP_IF_NONE_MATCH"))
    headers = [] if not_modified else [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if cacheable:
        headers += [("Cache-Control", public_cache_control(settings.http_max_age_seconds)), ("ETag", etag)]
    else:
        headers.append(("Cache-Control", "no-store"))
    headers += request_headers(request_id, model_version, cache)
    vary, cors = cors_headers(environ.get("HTTP_ORIGIN"), "GET", settings.cors_origins)
    if vary:
        headers.append(("Vary", "Origin"))
    headers += cors
    status = 304 if not_modified else 200
    record_request(endpoint=endpoint, method="GET", path=environ["PATH_INFO"], status=status,
                   duration_seconds=time.perf_counter() - started, cache=cache, model_version=model_version,
                   request_id=request_id)
    return ("304 NOT MODIFIED" if not_modified else "200 OK"), headers, ([] if not_modified else [body])

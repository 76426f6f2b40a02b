"""CORS for the origins in `RELATEDLY_CORS_ORIGINS`, so the website's browser JavaScript can call the API.

`cors_headers` decides the headers; the Flask hook and the WSGI layer for default lists
(`service.api.default_lists`) both apply it, so every response answers CORS the same way.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.extensions import relatedly

ALLOWED_HEADERS = "Content-Type, If-None-Match, X-Request-ID"
EXPOSED_HEADERS = "ETag, X-Model-Version, X-Request-ID, X-Cache"


def register_cors(app: Flask) -> None:
    app.after_request(_add_cors_headers)


def cors_headers(origin: str | None, method: str, allowed: tuple[str, ...]) -> tuple[bool, list[tuple[str, str]]]:
    """(whether the response varies by Origin, the CORS headers to add) for a request from `origin`."""
    if not allowed:
        return False, []
    vary = "*" not in allowed  # the answer depends on Origin: shared caches must key on it
    if not origin or ("*" not in allowed and origin not in allowed):
        return vary, []
    headers = [
        ("Access-Control-Allow-Origin", "*" if "*" in allowed else origin),
        ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
    ]
    if method == "OPTIONS":
        headers += [
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", "600"),
        ]
    return vary, headers


def _add_cors_headers(response: Response) -> Response:
    vary, headers = cors_headers(request.headers.get("Origin"), request.method, relatedly().settings.cors_origins)
    if vary:
        response.vary.add("Origin")
    for name, value in headers:
        response.headers[name] = value
    return response

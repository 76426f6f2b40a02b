"""CORS for the origins in `RELATEDLY_CORS_ORIGINS`, so the website's browser JavaScript can call the API."""

from __future__ import annotations

from flask import Flask, Response, request

from service.extensions import relatedly

ALLOWED_HEADERS = "Content-Type, If-None-Match, X-Request-ID"
EXPOSED_HEADERS = "ETag, X-Model-Version, X-Request-ID, X-Cache"


def register_cors(app: Flask) -> None:
    app.after_request(_add_cors_headers)


def _add_cors_headers(response: Response) -> Response:
    origin = request.headers.get("Origin")
    allowed = relatedly().settings.cors_origins
    if not allowed:
        return response
    if "*" not in allowed:
        response.vary.add("Origin")  # the answer depends on Origin: shared caches must key on it
    if not origin or ("*" not in allowed and origin not in allowed):
        return response
    response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response

"""Every error leaves the service as JSON `{"error": {"code", "message"}}` with a stable code.

Registered on the app, not a blueprint, so routing 404s and 405s are caught too.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

log = logging.getLogger("relatedly.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "model_unavailable",
}


class ApiError(Exception):
    """An error a handler raises on purpose: status, stable code, human message."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str) -> ResponseReturnValue:
    """The one JSON error shape."""
    return jsonify(error={"code": code, "message": message}), status


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> ResponseReturnValue:
        body, status = error_response(exc.status, exc.code, exc.message)
        return body, status, exc.headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        body, _ = error_response(status, _CODES.get(status, "http_error"), exc.description or exc.name)
        # Keep Werkzeug's own headers but its content type: `Allow` on a 405 (RFC 9110), for one.
        headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
        return body, status, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("request_failed", extra={"fields": {"error": type(exc).__name__}})
        return error_response(500, "internal_error", "internal error; the incident was logged")

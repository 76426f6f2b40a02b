"""What every request's input goes through before a view sees it.

Bodies are decoded by one JSON provider with the nesting bound (`recommender.limits.decode_json`), so every
JSON entrance answers a body nested too deeply as it answers malformed JSON: 400 `invalid_json`, one request
log line, no traceback (the decoder's `RecursionError` never reaches the error handler). An article id in a
path is taken in Unicode NFC, the form ids are stored in, so `café` answers alike in NFC and NFD spellings.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from recommender.limits import decode_json


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but `loads` refuses values nested past `MAX_JSON_DEPTH` with a `ValueError`."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return decode_json(s)


def register_request_input(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)

    @app.url_value_preprocessor
    def _article_id_in_nfc(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values and isinstance(values.get("article_id"), str):
            values["article_id"] = unicodedata.normalize("NFC", values["article_id"])

"""`POST /v1/events`: the impressions and clicks the widget reports, validated, then queued for the database.

The widget sends them with `navigator.sendBeacon` as `text/plain` (a CORS-safelisted type, so no
preflight); `application/json` is accepted too. Every field is checked against the served model before
anything is stored: a known type, a list id, the article and stories in the model (the current one, whose
ids a widget on the page was just given), positions within the list, at most `MAX_ITEMS` stories and
`MAX_EVENT_BYTES` of body. A valid event answers 204 at once and reaches the database with the next
batch (`service.events.writer`); an invalid one gets 400 JSON (404 when it names an article or model
version that does not exist, as everywhere in the API) and nothing is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, make_response, request

from recommender import artifacts
from recommender.limits import MAX_EVENT_BYTES, JsonTooDeepError, decode_json
from recommender.limits import MAX_EVENT_ITEMS as MAX_ITEMS
from service.api.routes import current_model
from service.events.spool import EventSpool
from service.events.writer import EventWriter
from service.extensions import relatedly
from service.models.store import LoadedModel
from service.pipeline import metrics
from service.pipeline.errors import ApiError, error_response
from service.pipeline.rate_limit import RateLimiter, client_address
from storage.events import EVENT_TYPES, EventRow

bp = Blueprint("events", __name__, url_prefix="/v1")

EVENT_MEDIA_TYPES = ("text/plain", "application/json")
_FIELDS = {"impression": {"type", "list_id", "article_id", "model_version", "items"},
           "click": {"type", "list_id", "article_id", "model_version", "target", "position"}}
_OPTIONAL = {"arm", "explored"}  # issue 26; today's widget format (without them) is still accepted
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_ARM = re.compile(r"^[a-z0-9_-]{1,16}$")


def register_events(app: Flask) -> None:
    """Give the app its event writer and rate limiter."""
    parts = app.extensions["relatedly"]
    spool = EventSpool(parts.settings.resolved_events_spool_dir, max_bytes=parts.settings.events_spool_max_bytes)
    writer = EventWriter(parts.database, spool)
    writer.start_if_spooled()
    app.extensions["relatedly_events"] = (writer, RateLimiter(parts.settings.events_per_minute))


def event_writer(app: Flask | None = None) -> EventWriter:
    """The app's event writer (tests flush it to read what was stored)."""
    return (app or current_app).extensions["relatedly_events"][0]


@bp.post("/events")
def post_event() -> Response:
    """One impression or click; 204 once queued."""
    writer, limiter = current_app.extensions["relatedly_events"]
    if not limiter.allow(client_address(request.environ, relatedly().settings.trusted_proxies)):
        metrics.EVENTS.labels(result="rate_limited").inc()
        wait = limiter.retry_after_seconds()
        response = make_response(*error_response(429, "rate_limited", f"too many events from this client; retry in"
                                                                      f" {wait} s"))
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        rows = event_rows(_body(), current_model(), datetime.now(UTC), relatedly().settings.models_dir)
    except ApiError:
        metrics.EVENTS.labels(result="invalid").inc()
        raise
    if not writer.add(rows):
        raise ApiError(503, "events_backlogged", "too many events are waiting to be stored; try again later")
    metrics.EVENTS.labels(result="accepted").inc()
    response = Response(status=204)
    del response.headers["Content-Type"]  # no body, no type
    return response


def event_rows(event: Any, loaded: LoadedModel, occurred_at: datetime, models_dir: str) -> list[EventRow]:
    """The `events` rows of one valid event; `ApiError` 400 naming the first bad field."""
    if not isinstance(event, dict):
        raise _bad("the body must be a JSON object")
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise _bad(f"type must be one of {', '.join(EVENT_TYPES)}, got {kind!r}")
    if not _FIELDS[kind] <= event.keys() <= _FIELDS[kind] | _OPTIONAL:
        unknown, missing = sorted(set(event) - _FIELDS[kind] - _OPTIONAL), sorted(_FIELDS[kind] - set(event))
        raise _bad(f"a {kind} has the fields {', '.join(sorted(_FIELDS[kind]))}, and optionally arm and explored"
                   f" ({'unknown: ' + ', '.join(unknown) if unknown else 'missing: ' + ', '.join(missing)})")
    list_id = _token(event, "list_id")
    arm = event.get("arm")
    if arm is not None and not (isinstance(arm, str) and _ARM.match(arm)):
        raise _bad(f"arm must be 1 to 16 lower-case letters, digits, _ or -, got {arm!r}"[:300])
    model_version = _token(event, "model_version")
    if model_version != loaded.version and not _published(models_dir, model_version):
        raise ApiError(404, "model_version_not_found", f"model_version {model_version!r} is not a published version")
    article_id = _story(event["article_id"], "article_id", loaded)
    if kind == "click":
        position = event["position"]
        if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= _max_items(loaded):
            raise _bad(f"position must be an integer from 1 to {_max_items(loaded)}, got {position!r}")
        target = _story(event["target"], "target", loaded, not_=article_id)
        explored = event.get("explored", False)
        if not isinstance(explored, bool):
            raise _bad(f"a click's explored must be true or false, got {explored!r}"[:300])
        return [EventRow(occurred_at, kind, list_id, article_id, target, position, model_version, arm, explored)]
    items = event["items"]
    if not isinstance(items, list) or not 1 <= len(items) <= _max_items(loaded):
        raise _bad(f"items must be a list of 1 to {_max_items(loaded)} story ids")
    if len(set(map(str, items))) != len(items):
        raise _bad("items must not repeat a story")
    explored_at = event.get("explored")
    if explored_at is not None and (isinstance(explored_at, bool) or not isinstance(explored_at, int)
                                    or not 1 <= explored_at <= len(items)):
        raise _bad(f"an impression's explored must be the position of the explored story, 1 to {len(items)},"
                   f" got {explored_at!r}"[:300])
    return [EventRow(occurred_at, kind, list_id, article_id, _story(item, "items", loaded, not_=article_id), n,
                     model_version, arm, n == explored_at) for n, item in enumerate(items, start=1)]


_seen_versions: set[tuple[str, str]] = set()  # (models dir, version) found on disk once: versions never change


def _published(models_dir: str, version: str) -> bool:
    """Whether `version` is (or was, since this process saw it) a version in `models_dir`; pages served by the
    previous model keep reporting its version for a while after a switch, so the answer is remembered."""
    if (models_dir, version) not in _seen_versions:
        _seen_versions.update((models_dir, v) for v in artifacts.list_versions(models_dir))
    return (models_dir, version) in _seen_versions


def _body() -> Any:
    mimetype = request.mimetype or "text/plain"
    if mimetype not in EVENT_MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the event as text/plain or application/json")
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        raise ApiError(413, "payload_too_large", f"an event may hold at most {MAX_EVENT_BYTES} bytes")
    raw = request.stream.read(MAX_EVENT_BYTES + 1)
    if len(raw) > MAX_EVENT_BYTES:
        raise ApiError(413, "payload_too_large", f"an event may hold at most {MAX_EVENT_BYTES} bytes")
    try:
        return decode_json(raw.decode("utf-8"))
    except JsonTooDeepError as exc:
        raise ApiError(400, "invalid_json", f"the body must be a JSON object: {exc}") from None
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "the body must be a JSON object (UTF-8)") from None


def _max_items(loaded: LoadedModel) -> int:
    """The longest list the model can have served (the widget never asks for more than the API allows)."""
    return min(MAX_ITEMS, loaded.model.top_k)


def _token(event: Mapping[str, Any], name: str) -> str:
    value = event[name]
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise _bad(f"{name} must be 1 to 64 letters, digits or ._:-, got {value!r}")
    return value


def _story(value: Any, name: str, loaded: LoadedModel, not_: str | None = None) -> str:
    if not isinstance(value, str):
        raise _bad(f"{name} must be an article id (a string), got {value!r}"[:300])
    value = unicodedata.normalize("NFC", value)  # ids are stored in NFC (recommender.limits.check_article_id)
    if value not in loaded.model:  # as everywhere in the API, an unknown id is a 404
        message = f"{name}: no article with id {value!r} in model {loaded.version}"
        raise ApiError(404, "article_not_found", message[:300])
    if value == not_:
        raise _bad(f"{name} must not be the list's own article {value!r}")
    return value


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_event", message)

"""Admin API for editorial overrides: list them, set an article's pins, add or lift blocks and exclusions.

Off (404) without `RELATEDLY_ADMIN_TOKEN`, like the rest of `/v1/admin`. A request is authorised by
`Authorization: Bearer <token>` (scripts; `X-Relatedly-Actor` names who is acting in the audit
trail), or by the editor page's session cookie — then every state-changing request must carry the
session's CSRF token in `X-CSRF-Token`, else 403 and nothing changes. Ids must be in the served
model unless `allow_inactive` is true (an article taken down or not imported yet): such overrides
are kept and shown inactive, and never served. A change commits, then this worker reloads its
snapshot and rings the doorbell for the others (see `service.models.overrides`): the next request sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from recommender.limits import MAX_ID_CHARS
from recommender.overrides import build_overrides, pin_problems, pin_states
from service.api import admin
from service.api.routes import current_model
from service.extensions import relatedly
from service.models.store import LoadedModel
from service.pages.editor_session import csrf_ok, current_session
from service.pages.search import search_titles
from service.pipeline.errors import ApiError, error_response
from storage.events import story_stats
from storage.overrides import (
    OverrideNotFoundError,
    OverrideRows,
    add_block,
    add_exclusion,
    read_audit,
    read_overrides,
    remove_block,
    remove_exclusion,
    set_pins,
)

log = logging.getLogger("relatedly.admin")
bp = Blueprint("admin_overrides", __name__, url_prefix="/v1/admin")
MAX_ACTOR_CHARS = 100
MAX_REASON_CHARS = 500
STATS_DAYS = 30
MAX_STATS_IDS = 100


@bp.before_request
def _authorise() -> None:
    settings = relatedly().settings
    if settings.admin_token and "Authorization" not in request.headers:
        session = current_session(request, settings, relatedly().database)
        if session is not None:
            if not csrf_ok(request, session):
                raise ApiError(403, "csrf_failed", "send the editor page's CSRF token in X-CSRF-Token")
            g.actor = session.actor
            return
    admin.authorise()
    g.actor = "api:" + (request.headers.get("X-Relatedly-Actor", "").strip()[:MAX_ACTOR_CHARS] or "admin")


bp.after_request(admin.never_cache)


@bp.errorhandler(SQLAlchemyError)
def _database_down(exc: SQLAlchemyError) -> ResponseReturnValue:
    """The database failed: nothing was changed (the transaction rolled back); lists keep being served."""
    log.warning("overrides_database_error", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"[:300]}})
    return error_response(503, "database_unavailable", "the overrides database cannot be reached; nothing changed")


@bp.get("/overrides")
def list_overrides() -> Any:
    """Every override (or those of one article's list, with `article_id`), each marked active or not."""
    article_id = request.args.get("article_id") or None
    return jsonify(_listing(read_overrides(relatedly().database), current_model(), article_id))


@bp.put("/overrides/pins/<path:article_id>")
def put_pins(article_id: str) -> Any:
    """Replace the article's pins with `{"stories": [...]}` in that order (an empty list unpins all)."""
    data, loaded = _body(), current_model()
    stories = data.get("stories")
    if not isinstance(stories, list) or not all(isinstance(s, str) and 0 < len(s) <= MAX_ID_CHARS for s in stories):
        raise ApiError(400, "invalid_parameter", "stories must be a list of article ids")
    if article_id in stories:
        raise ApiError(409, "conflicting_override", f"{article_id!r} cannot be pinned under itself")
    problems = pin_problems(article_id, stories)
    if problems:
        raise ApiError(400, "invalid_parameter", "; ".join(problems))
    _known(loaded, [article_id, *stories], data)
    return _changed(lambda actor: set_pins(relatedly().database, article_id, stories, actor=actor), article_id)


@bp.delete("/overrides/pins/<path:article_id>")
def delete_pins(article_id: str) -> Any:
    """Unpin every story of the article."""
    if article_id not in read_overrides(relatedly().database).pins:
        raise ApiError(404, "override_not_found", f"{article_id!r} has no pins")
    return _changed(lambda actor: set_pins(relatedly().database, article_id, [], actor=actor), article_id)


@bp.post("/overrides/blocks")
def post_block() -> Any:
    """Never show `story_id` under `article_id` (`both_ways`: nor the reverse; `reason` goes to the audit trail)."""
    data, loaded = _body(), current_model()
    article_id, story_id, both_ways = _id(data, "article_id"), _id(data, "story_id"), _flag(data, "both_ways")
    reason = _reason(data)
    if article_id == story_id:
        raise ApiError(409, "conflicting_override", "an article cannot be blocked under itself")
    _known(loaded, [article_id, story_id], data)
    return _changed(lambda actor: add_block(relatedly().database, article_id, story_id, actor=actor,
                                            both_ways=both_ways, reason=reason), article_id)


@bp.delete("/overrides/blocks")
def delete_block() -> Any:
    """Lift a block: `?article_id=…&story_id=…[&both_ways=true]`."""
    article_id, story_id = _id(request.args, "article_id"), _id(request.args, "story_id")
    both_ways = request.args.get("both_ways", "false").lower() in ("1", "true", "yes", "on")
    return _changed(lambda actor: remove_block(relatedly().database, article_id, story_id, actor=actor,
                                               both_ways=both_ways), article_id)


@bp.post("/overrides/exclusions")
def post_exclusion() -> Any:
    """Keep `story_id` out of every list (`reason` is recorded); its own page keeps a list."""
    data, loaded = _body(), current_model()
    story_id, reason = _id(data, "story_id"), _reason(data)
    _known(loaded, [story_id], data)
    return _changed(lambda actor: add_exclusion(relatedly().database, story_id, actor=actor, reason=reason), None)


@bp.delete("/overrides/exclusions/<path:story_id>")
def delete_exclusion(story_id: str) -> Any:
    """Let an excluded story appear in lists again."""
    return _changed(lambda actor: remove_exclusion(relatedly().database, story_id, actor=actor), None)


@bp.get("/overrides/audit")
def audit() -> Any:
    """The latest changes, newest first: `?limit=` (1…500, default 100), `?article_id=`."""
    limit = _limit(default=100, high=500)
    entries = read_audit(relatedly().database, limit=limit, article_id=request.args.get("article_id") or None)
    return jsonify(entries=[{
        "revision": e.revision, "changed_at": _iso(e.changed_at), "actor": e.actor, "action": e.action,
        "article_id": e.article_id, "story_ids": e.story_ids, "detail": e.detail} for e in entries])


@bp.get("/story-stats")
def story_figures() -> Any:
    """Readers' figures of stories over the last `days` (1…365, default 30): `?ids=a,b` (at most 100) →
    `{"days", "stories": {id: {"impressions", "clicks", "ctr"}}}`; an impression is one showing in a list."""
    ids = [i for i in request.args.get("ids", "").split(",") if i]
    if not ids or len(ids) > MAX_STATS_IDS or any(len(i) > MAX_ID_CHARS for i in ids):
        raise ApiError(400, "invalid_parameter", f"ids must be 1 to {MAX_STATS_IDS} comma-separated article ids")
    raw = request.args.get("days", str(STATS_DAYS))
    if not raw.isdigit() or not 1 <= int(raw) <= 365:
        raise ApiError(400, "invalid_parameter", "days must be an integer between 1 and 365")
    since = datetime.now(UTC) - timedelta(days=int(raw))
    stats = story_stats(relatedly().database, ids, since)
    return jsonify(days=int(raw), stories={i: {"impressions": s.impressions, "clicks": s.clicks, "ctr": s.ctr}
                                           for i, s in stats.items()})


@bp.get("/search")
def search() -> Any:
    """Articles of the served model whose title contains every word of `q`: `{"results": [{"id", "title", …}]}`."""
    loaded = current_model()
    query = request.args.get("q", "").strip()
    if not query or len(query) > 200:
        raise ApiError(400, "invalid_parameter", "q must hold 1 to 200 characters")
    limit = _limit(default=20, high=100)
    results = []
    for article_id in search_titles(loaded, query, limit):
        info = loaded.model.article(article_id)
        results.append({"id": info.id, "title": info.title, "url": info.url, "published_at": info.published_at,
                        "category": info.category})
    return jsonify(model_version=loaded.version, results=results)


def _changed(change: Callable[[str], int], article_id: str | None) -> Response:
    """Commit a change, make it visible to every worker, and answer with the listing it affects."""
    parts = relatedly()
    try:
        revision = change(g.actor)
    except OverrideNotFoundError as exc:
        raise ApiError(404, "override_not_found", str(exc)) from None
    parts.overrides.changed(revision)
    return jsonify(_listing(read_overrides(parts.database), current_model(), article_id))


def _listing(rows: OverrideRows, loaded: LoadedModel, article_id: str | None) -> dict[str, Any]:
    """The overrides with titles and an `active` flag (and why not) against the served model."""
    model, snapshot = loaded.model, build_overrides(rows.revision, rows.pins, rows.blocks, rows.exclusions)

    def title(i: str) -> str | None:
        return model.article(i).title if i in model else None

    pins = [
        {"article_id": page, "title": title(page), "stories": [
            {"id": story, "title": title(story), "active": reason is None, "inactive_reason": reason}
            for story, reason in pin_states(snapshot, page, model.__contains__)]}
        for page in rows.pins if article_id is None or page == article_id
    ]
    blocks = [
        {"article_id": a, "article_title": title(a), "story_id": s, "story_title": title(s),
         "active": a in model and s in model}
        for a, s in rows.blocks if article_id is None or a == article_id
    ]
    exclusions = [{"story_id": s, "title": title(s), "reason": why, "active": s in model}
                  for s, why in rows.exclusions.items()]
    return {
        "revision": rows.revision,
        "model_version": loaded.version,
        "model_trained_at": _iso(datetime.fromtimestamp(loaded.created_at, UTC)),
        "pins": pins,
        "blocks": blocks,
        "exclusions": exclusions,
    }


def _reason(data: Mapping[str, Any]) -> str:
    """The optional `reason` of a change, for the audit trail."""
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise ApiError(400, "invalid_parameter", f"reason must be a string of at most {MAX_REASON_CHARS} characters")
    return reason.strip()


def _limit(*, default: int, high: int) -> int:
    """The `limit` query parameter, 1…high."""
    raw = request.args.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise ApiError(400, "invalid_parameter", f"limit must be an integer between 1 and {high}")
    return int(raw)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "send a JSON object with Content-Type: application/json")
    return data


def _id(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise ApiError(400, "invalid_parameter", f"{name} must be an article id (1 to {MAX_ID_CHARS} characters)")
    return value


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(400, "invalid_parameter", f"{name} must be true or false")
    return value


def _known(loaded: LoadedModel, ids: list[str], data: Mapping[str, Any]) -> None:
    """404 for ids the served model does not have, unless the caller keeps them as inactive overrides."""
    allow_inactive = _flag(data, "allow_inactive")
    unknown = [i for i in ids if i not in loaded.model]
    if unknown and not allow_inactive:
        raise ApiError(404, "article_not_found",
                       f"not in model {loaded.version}: {', '.join(map(repr, unknown))} "
                       "(send allow_inactive: true to keep the override until the article is back)")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

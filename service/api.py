"""The public API the website calls: related stories of an article."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from service.cache import cache_key
from service.errors import ApiError
from service.extensions import relatedly
from service.model_store import LoadedModel

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.get("/articles/<path:article_id>/related")
def related(article_id: str) -> Response:
    """`{"article_id", "model_version", "related": [{"id", "title", "url", "published_at", "score"}]}`."""
    parts = relatedly()
    loaded = current_model()
    limit = _int_param("limit", default=min(parts.settings.default_limit, loaded.model.top_k),
                       low=1, high=loaded.model.top_k)
    key = cache_key(loaded.version, "related", article_id, {"limit": limit})
    cached = parts.cache.get(key)
    if cached is not None:
        return _json_response(cached, loaded.version, cache_hit=True)
    if article_id not in loaded.model:
        raise ApiError(404, "article_not_found", f"no article with id {article_id!r} in model {loaded.version}")
    payload = {
        "article_id": article_id,
        "model_version": loaded.version,
        "related": [
            {
                "id": item.article.id,
                "title": item.article.title,
                "url": item.article.url,
                "published_at": item.article.published_at,
                "score": item.score,
            }
            for item in loaded.model.related(article_id, limit=limit)
        ],
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    parts.cache.set(key, body, parts.settings.cache_ttl_seconds)
    return _json_response(body, loaded.version, cache_hit=False)


def current_model() -> LoadedModel:
    """The model for this request, read once; 503 while none is loaded."""
    loaded = relatedly().store.current()
    if loaded is None:
        raise ApiError(503, "model_unavailable", "no model is loaded yet; see /readyz")
    return loaded


def _int_param(name: str, *, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}, got {value}")
    return value


def _json_response(body: bytes, model_version: str, *, cache_hit: bool) -> Response:
    return Response(
        body,
        mimetype="application/json",
        headers={"X-Model-Version": model_version, "X-Cache": "hit" if cache_hit else "miss"},
    )

"""The public API the website calls: related stories of an article."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from recommender.model import RelatedItem
from service.cache import cache_key
from service.errors import ApiError
from service.extensions import relatedly
from service.model_store import LoadedModel
from service.params import canonical, explain_flag, ranking_options

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.get("/articles/<path:article_id>/related")
def related(article_id: str) -> Response:
    """`{"article_id", "model_version", "count", "related": [{"id", "title", "url", "published_at", "score"}]}`."""
    parts = relatedly()
    loaded = current_model()
    options = ranking_options(request.args, default_limit=parts.settings.default_limit, max_limit=loaded.model.top_k)
    explain = explain_flag(request.args)
    key = cache_key(loaded.version, "related", article_id, canonical(options, explain=explain))
    cached = parts.cache.get(key)
    if cached is not None:
        return _json_response(cached, loaded.version, cache_hit=True)
    if article_id not in loaded.model:
        raise ApiError(404, "article_not_found", f"no article with id {article_id!r} in model {loaded.version}")
    items = loaded.model.related(article_id, options, explain=explain)
    payload = {"article_id": article_id, "model_version": loaded.version, **related_payload(items)}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    parts.cache.set(key, body, parts.settings.cache_ttl_seconds)
    return _json_response(body, loaded.version, cache_hit=False)


def related_payload(items: list[RelatedItem]) -> dict[str, Any]:
    """The list part of every related response: how many were found, and the stories."""
    return {"count": len(items), "related": [_item(item) for item in items]}


def _item(item: RelatedItem) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": item.article.id,
        "title": item.article.title,
        "url": item.article.url,
        "published_at": item.article.published_at,
        "score": item.score,
    }
    if item.explanation is not None:
        e = item.explanation
        entry["explanation"] = {
            "similarity": item.similarity,
            "terms": [{"term": term, "contribution": value} for term, value in e.terms],
            "semantic": e.semantic,
            "shared_tags": e.shared_tags,
            "same_category": e.same_category,
        }
    return entry


def current_model() -> LoadedModel:
    """The model for this request, read once; 503 while none is loaded."""
    loaded = relatedly().store.current()
    if loaded is None:
        raise ApiError(503, "model_unavailable", "no model is loaded yet; see /readyz")
    return loaded


def _json_response(body: bytes, model_version: str, *, cache_hit: bool) -> Response:
    return Response(
        body,
        mimetype="application/json",
        headers={"X-Model-Version": model_version, "X-Cache": "hit" if cache_hit else "miss"},
    )

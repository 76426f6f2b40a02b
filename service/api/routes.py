"""The public API: related stories of an article, of a text, of many articles; article metadata.

Responses are JSON built once and cached as bytes under a key naming the model version and every
option (see `service.api.cache`). Successful GETs carry an ETag and `Cache-Control` so a CDN can keep
them; `If-None-Match` gets a 304.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, g, request

from recommender.catalog import ArticleInfo
from recommender.languages import language_tag
from recommender.limits import MAX_BATCH_IDS
from recommender.model import RelatedItem, RelatedModel
from recommender.overrides import Overrides
from recommender.ranking import RankingOptions
from recommender.reader_evidence import LearnedList
from service.api.cache import cache_key, encode_params
from service.api.fallback import Fallback, fallback_rows, with_fallback
from service.api.params import canonical, explain_flag, fallback_choice, iso_datetime, ranking_options
from service.api.reader_lists import MODEL_ARM, arm_of, explores, further_story
from service.extensions import Relatedly, relatedly
from service.models.store import LoadedModel
from service.pipeline import metrics
from service.pipeline.errors import ApiError
from service.pipeline.http import client_has, etag_of, public_cache_control

bp = Blueprint("api", __name__, url_prefix="/v1")
RELATED_RULE = "/v1/articles/<path:article_id>/related"  # also the endpoint label in metrics and logs


@bp.get(RELATED_RULE.removeprefix("/v1"))
def related(article_id: str) -> Response:
    """`{"article_id", "model_version", "count", "related": [{"id", "title", "url", "published_at", "score"}]}`."""
    parts, loaded = relatedly(), current_model()
    options, explain = _options(request.args, loaded), explain_flag(request.args)
    body = _related_body(parts, loaded, article_id, options, explain, fallback_choice(request.args))
    explored = explored_body(parts, loaded, article_id, options, body)
    return _json_response(explored or body, loaded.version, cacheable=explored is None)


@bp.get("/related")
def related_by_url() -> Response:
    """The same list, body, cache entry and ETag as `GET /v1/articles/<id>/related`, found by the page's URL."""
    parts, loaded = relatedly(), current_model()
    article_id = article_id_for_url(loaded, request.args.get("url"))
    params = {k: v for k, v in request.args.items() if k != "url"}
    options, explain = _options(params, loaded), explain_flag(params)
    body = _related_body(parts, loaded, article_id, options, explain, fallback_choice(params))
    explored = explored_body(parts, loaded, article_id, options, body)
    return _json_response(explored or body, loaded.version, cacheable=explored is None)


def article_id_for_url(loaded: LoadedModel, url: str | None) -> str:
    """The id of the article at `url` in this model: 400 when no url is given, 404 when none has it."""
    if url is None or not url.strip():
        raise ApiError(400, "invalid_parameter", "url is required: the page's address")
    article_id = loaded.model.article_id_for_url(url)
    if article_id is None:
        raise ApiError(404, "article_not_found", f"no article with url {url!r} in model {loaded.version}")
    return article_id


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Response:
    """The stored metadata of one article, so an editor can check what the model knows."""
    loaded = current_model()
    if article_id not in loaded.model:
        raise _not_found(article_id, loaded)
    info = loaded.model.article(article_id)
    payload = {
        "model_version": loaded.version,
        "article": {
            "id": info.id,
            "title": info.title,
            "url": info.url,
            "published_at": info.published_at,
            "tags": list(info.tags),
            "category": info.category,
            **({"image": info.image} if info.image is not None else {}),
        },
    }
    return _json_response(dumps(payload), loaded.version, cacheable=True)


@bp.post("/related")
def related_to_text() -> Response:
    """Related stories for a text that is not in the model (a draft, a story newer than the model)."""
    parts, loaded = relatedly(), current_model()
    data = _json_object()
    title, body = _text(data, "title"), _text(data, "body")
    if not (title.strip() or body.strip()):
        raise ApiError(400, "invalid_parameter", "title or body must contain some text")
    tags = data.get("tags")
    tags = [] if tags is None else tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ApiError(400, "invalid_parameter", "tags must be a list of strings")
    text_category = data.get("article_category")
    if text_category is not None and not isinstance(text_category, str):
        raise ApiError(400, "invalid_parameter", "article_category must be a string")
    try:
        text_lang = language_tag(data.get("article_lang"))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"article_lang {exc}") from None
    published_at = iso_datetime(data, "published_at")
    article_id = data.get("article_id")
    if article_id is not None and not isinstance(article_id, str):
        raise ApiError(400, "invalid_parameter", "article_id must be a string")
    options, explain = _options(data, loaded), explain_flag(data)
    overrides = parts.overrides.current()
    fingerprint = hashlib.sha256(
        dumps([title, body, sorted(tags), text_category, published_at and published_at.isoformat(), article_id,
               text_lang])
    ).hexdigest()

    def compute() -> dict[str, Any]:
        items = loaded.model.related_to_text(
            title, body, tags, options, category=text_category, published_at=published_at, explain=explain,
            article_id=article_id, rules=overrides.rules_for(article_id), lang=text_lang,
        )
        return {"model_version": loaded.version, **related_payload(items, options)}

    key = cache_key(cache_version(loaded, overrides), "text", fingerprint, canonical(options, explain=explain))
    return _json_response(_cached(parts, key, compute), loaded.version, cacheable=False)


@bp.post("/related:batch")
def related_batch() -> Response:
    """Lists for up to 100 articles in one round trip; an unknown id fails only its own item."""
    parts, loaded = relatedly(), current_model()
    data = _json_object()
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "invalid_parameter", "ids must be a non-empty list of article id strings")
    if len(ids) > MAX_BATCH_IDS:
        raise ApiError(400, "invalid_parameter", f"ids may hold at most {MAX_BATCH_IDS} ids, got {len(ids)}")
    options, explain = _options(data, loaded), explain_flag(data)
    results = []
    for article_id in ids:
        if article_id in loaded.model:
            entry = json.loads(_related_body(parts, loaded, article_id, options, explain))
            entry.pop("model_version")
            results.append(entry)
        else:
            error = _not_found(article_id, loaded)
            results.append({"article_id": article_id, "error": {"code": error.code, "message": error.message}})
    return _json_response(dumps({"model_version": loaded.version, "results": results}), loaded.version,
                          cacheable=False)


def related_list(article_id: str, params: Mapping[str, Any]) -> tuple[LoadedModel, bytes, bool]:
    """An article's list exactly as the JSON endpoint serves it (cached), for other renderings (the HTML fragment),
    and whether this view explores (then it must not be cached)."""
    parts, loaded = relatedly(), current_model()
    options = _options(params, loaded)
    body = _related_body(parts, loaded, article_id, options, explain=False, fallback=fallback_choice(params))
    explored = explored_body(parts, loaded, article_id, options, body)
    return loaded, explored or body, explored is not None


def explored_body(parts: Relatedly, loaded: LoadedModel, article_id: str, options: RankingOptions,
                  body: bytes) -> bytes | None:
    """This view's list with its last slot explored (see `service.api.reader_lists`), or None."""
    if not explores(parts.settings) or not learnable(parts, loaded, options):
        return None
    document = json.loads(body)
    stories = document["related"]
    if not stories or stories[-1].get("source") != "model":  # an editor's pin keeps its slot
        return None
    item = further_story(loaded, article_id, options, [s["id"] for s in stories], parts.overrides.current())
    if item is None:
        return None
    stories[-1] = {**story_entry(item.article, item.score, "model"), "explored": True}
    return dumps(document)


def current_model() -> LoadedModel:
    """The model for this request, read once; 503 while none is loaded."""
    loaded = relatedly().store.current()
    if loaded is None:
        raise ApiError(503, "model_unavailable", "no model is loaded yet; see /readyz")
    g.model_version = loaded.version
    return loaded


def related_payload(items: list[RelatedItem], options: RankingOptions) -> dict[str, Any]:
    """The list part of every related response: how many were asked for and found, and the stories."""
    metrics.LISTS.labels(short=str(len(items) < options.limit).lower()).inc()
    return {"limit": options.limit, "count": len(items), "related": [_item(item) for item in items]}


def _related_body(parts: Relatedly, loaded: LoadedModel, article_id: str, options: RankingOptions,
                  explain: bool, fallback: Fallback | None = None) -> bytes:
    if article_id not in loaded.model:
        raise _not_found(article_id, loaded)
    overrides = parts.overrides.current()  # the one place editors' rules enter a related list
    varies = learnable(parts, loaded, options)
    arm = arm_of(parts.settings, article_id) if varies else None

    def compute() -> dict[str, Any]:
        learned = learned_list(loaded, article_id, options) if varies and arm != MODEL_ARM else None
        document = related_document(loaded.model, loaded.version, article_id, options, overrides, explain, learned)
        if arm is not None:
            document = {**document, "arm": arm}
        if fallback is None or document["count"]:
            return document
        ids = fallback_rows(fallback, loaded.model, article_id, options, overrides, parts.database)
        return with_fallback(document, fallback, [story_entry(loaded.model.article(i), 0.0, fallback) for i in ids])

    version = cache_version(loaded, overrides) + (f":{arm}" if arm else "")
    return _cached(parts, related_cache_key(version, article_id, options, explain, fallback), compute)


def related_document(model: RelatedModel, model_version: str, article_id: str, options: RankingOptions,
                     overrides: Overrides, explain: bool = False, learned: LearnedList | None = None) -> dict[str, Any]:
    """An article's list under `options` and the editorial rules, as its response document; in the
    `learned` order (reader evidence, see `service.models.learned`) when given."""
    rules = overrides.rules_for(article_id)
    if learned is None:
        items = model.related(article_id, options, explain=explain, rules=rules)
    else:
        items = model.related_in_order(article_id, learned.order, options, explain=explain, rules=rules)
    metrics.LISTS.labels(short=str(len(items) < options.limit).lower()).inc()
    stories = [_item(item) for item in items]
    if learned is not None and explain:
        for story in stories:
            move = learned.moves.get(story["id"])
            if move is not None and story["source"] == "model":
                story["explanation"]["reader_evidence"] = {
                    "moved": True, "model_position": move.model_position, "impressions": move.impressions,
                    "clicks": move.clicks, "expected_clicks": move.expected_clicks, "ratio": move.ratio}
    return list_document(article_id, model_version, options.limit, stories)


def render_with_rules(model: RelatedModel, model_version: str, article_id: str, overrides: Overrides,
                      limit: int, learned: LearnedList | None = None) -> bytes:
    """An article's list with no options given (for `limit` stories) under the editorial rules (in the
    `learned` order when given), rendered."""
    options = default_request_options(limit, model.top_k)
    return dumps(related_document(model, model_version, article_id, options, overrides, learned=learned))


def cache_version(loaded: LoadedModel, overrides: Overrides) -> str:
    """What cache keys name as the version: the model's, the overrides' revision and the learned lists'
    revision, so any change is seen."""
    learned = loaded.defaults.learned_revision if loaded.defaults is not None else 0
    return f"{loaded.version}:o{overrides.revision}" + (f":l{learned}" if learned else "")


def learnable(parts: Relatedly, loaded: LoadedModel, options: RankingOptions) -> bool:
    """Whether a request gets what learning from readers varies (learned order, arm, exploration): the default
    options but for the limit and the stories left out (the widget asks for 5 and leaves out what the page
    already shows)."""
    default = default_request_options(parts.settings.default_limit, loaded.model.top_k)
    return options is default or replace(options, limit=default.limit, exclude=default.exclude) == default


def learned_list(loaded: LoadedModel, article_id: str, options: RankingOptions) -> LearnedList | None:
    """The article's learned order when the (learnable) request may use it: within the order's length."""
    learned = loaded.defaults.learned_for(article_id) if loaded.defaults is not None else None
    return learned if learned is not None and options.limit <= len(learned.order) else None


def related_cache_key(model_version: str, article_id: str, options: RankingOptions, explain: bool,
                      fallback: Fallback | None = None) -> str:
    """The cache key of one article's list under the given options (and fallback, when one is asked for)."""
    params = canonical(options, explain=explain)
    return cache_key(model_version, "related", article_id, params if fallback is None else {**params,
                                                                                          "fallback": fallback})


def default_related_cache_key(model_version: str, article_id: str, default_limit: int, top_k: int) -> str:
    """The key of the page renderer's request: an article's list with no options given."""
    return cache_key(model_version, "related", article_id, _default_params(default_limit, top_k))


@functools.cache
def _default_params(default_limit: int, top_k: int) -> str:
    return encode_params(canonical(default_request_options(default_limit, top_k), explain=False))


def _cached(parts: Relatedly, key: str, compute: Callable[[], dict[str, Any]]) -> bytes:
    """The cached body for `key`, or compute, store (empty lists briefly) and return it."""
    body = parts.cache.get(key)
    if body is not None:
        metrics.CACHE.labels(result="hit").inc()
        g.cache = "hit"
        return body
    metrics.CACHE.labels(result="miss").inc()
    g.cache = "miss"
    payload = compute()
    body = dumps(payload)
    empty = payload.get("count") == 0 or "fallback" in payload  # either may change soon
    settings = parts.settings
    parts.cache.set(key, body, settings.cache_empty_ttl_seconds if empty else settings.cache_ttl_seconds)
    return body


def _options(params: Mapping[str, Any], loaded: LoadedModel) -> RankingOptions:
    default_limit = relatedly().settings.default_limit
    if not params:  # the common case: the page renderer asks with the defaults
        return default_request_options(default_limit, loaded.model.top_k)
    return ranking_options(params, default_limit=default_limit, max_limit=loaded.model.top_k)


@functools.cache
def default_request_options(default_limit: int, top_k: int) -> RankingOptions:
    """The options of a request that gives none (one instance per limit and K)."""
    return ranking_options({}, default_limit=default_limit, max_limit=top_k)


def _json_object() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send a JSON object with Content-Type: application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return data


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, "invalid_parameter", f"{name} must be a string")
    return value


def _not_found(article_id: str, loaded: LoadedModel) -> ApiError:
    return ApiError(404, "article_not_found", f"no article with id {article_id!r} in model {loaded.version}")


def _item(item: RelatedItem) -> dict[str, Any]:
    entry = story_entry(item.article, item.score, item.source)
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


def story_entry(article: ArticleInfo, score: float, source: str) -> dict[str, Any]:
    """One story of a related list, as every list response shows it."""
    entry: dict[str, Any] = {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "published_at": article.published_at,
        "score": score,
        "source": source,
    }
    if article.image is not None:
        entry["image"] = article.image
    return entry


def list_document(article_id: str, model_version: str, limit: int, stories: list[dict[str, Any]]) -> dict[str, Any]:
    """The response document of an article's related list."""
    return {"article_id": article_id, "model_version": model_version, "limit": limit, "count": len(stories),
            "related": stories}


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as every response body is encoded."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _json_response(body: bytes, model_version: str, *, cacheable: bool) -> Response:
    response = Response(body, mimetype="application/json")
    response.headers["X-Model-Version"] = model_version
    if cacheable:
        return http_cacheable(response, body)
    response.headers["Cache-Control"] = "no-store"
    return response


def http_cacheable(response: Response, body: bytes) -> Response:
    """Give a GET's response an ETag and a public `Cache-Control`; a 304 when the client's copy is current."""
    etag = etag_of(body)
    response.headers["Cache-Control"] = public_cache_control(relatedly().settings.http_max_age_seconds)
    response.headers["ETag"] = etag
    if client_has(etag, request.headers.get("If-None-Match")):  # the client's copy is current
        response.status_code = 304
        response.set_data(b"")
        del response.headers["Content-Type"]
    return response

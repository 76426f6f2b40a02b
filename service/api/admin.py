"""Admin API: add or replace articles and take articles down without a full retrain.

Off unless `RELATEDLY_ADMIN_TOKEN` is set (the routes then answer 404 as if absent). Every call needs
`Authorization: Bearer <token>`, compared in constant time: 401 without credentials, 403 with wrong
ones, and 429 (with Retry-After) once a client address has failed as often as the editor's sign-in
allows: a wrong Bearer token and a wrong sign-in count against one shared limit, so guessing the token
is as slow whichever way in is tried. Responses are never cached.
The work is the same pipeline as `relatedly update` / `remove`
(`publishing.updates`), serialised with them by a lock; this worker swaps the new model in at once,
the others at their next `CURRENT` check (and at once where Redis announcements are configured).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, jsonify, request

from publishing.updates import UpdateResult, update_published
from recommender.corpus import parse_article
from recommender.errors import UnknownArticleError
from recommender.limits import MAX_ARTICLES_PER_REQUEST as MAX_ARTICLES
from service.extensions import relatedly
from service.pages.editor_session import SignInLimiter
from service.pipeline.errors import ApiError
from service.pipeline.rate_limit import client_address

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


@bp.before_request
def authorise() -> None:
    """404 while the admin API is off, 401 without a bearer token, 403 with a wrong one, 429 after too many."""
    token = relatedly().settings.admin_token
    if not token:
        raise ApiError(404, "not_found", "The requested URL was not found on the server.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <admin token>")
    client = client_address(request.environ, relatedly().settings.trusted_proxies)
    limiter = SignInLimiter(relatedly().database)
    wait = limiter.retry_after(client)
    if wait:
        raise ApiError(429, "too_many_failures", f"too many failed attempts from this client; retry in {wait} s",
                       headers={"Retry-After": str(wait)})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        limiter.failed(client)
        raise ApiError(403, "forbidden", "the admin token is not valid")



@bp.after_request
def never_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="relatedly-admin"'
    return response



@bp.post("/articles")
def upsert_articles() -> Any:
    """Add new articles and replace edited ones: `{"articles": [{"id", "title", "body", …}, …]}`."""
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict) or not isinstance(data.get("articles"), list) or not data["articles"]:
        raise ApiError(400, "invalid_json", 'send {"articles": [{"id", "title", "body", …}, …]}')
    if len(data["articles"]) > MAX_ARTICLES:
        raise ApiError(400, "invalid_parameter", f"articles may hold at most {MAX_ARTICLES} items")
    articles, problems, notes = [], [], []
    for position, record in enumerate(data["articles"]):
        try:
            if not isinstance(record, dict):
                raise ValueError("must be a JSON object")
            articles.append(parse_article(record, notes=notes))
        except ValueError as exc:
            problems.append(f"articles[{position}]: {exc}")
    if problems:
        raise ApiError(400, "invalid_article", "; ".join(problems[:20]))
    return _published(update_published(relatedly().settings.models_dir, articles,
                                       keep_versions=relatedly().settings.keep_versions), notes)


@bp.delete("/articles/<path:article_id>")
def remove_article(article_id: str) -> Any:
    """Take an article down from every list and from the API (a takedown later updates keep)."""
    try:
        result = update_published(relatedly().settings.models_dir, removals=[article_id],
                                  keep_versions=relatedly().settings.keep_versions)
    except UnknownArticleError:
        raise ApiError(404, "article_not_found", f"no article with id {article_id!r} in the current model") from None
    return _published(result)


def _published(result: UpdateResult, notes: list[str] | None = None) -> Any:
    relatedly().store.refresh()
    s = result.summary
    return jsonify(
        model_version=result.version,
        previous_version=result.previous,
        added=s.added,
        replaced=s.replaced,
        removed=s.removed,
        refused=s.refused,
        recomputed_lists=s.recomputed_lists,
        n_articles=result.n_articles,
        retrain_recommended=result.drift.get("retrain_recommended", False),
        notes=notes or [],
    )

"""Admin API: add or replace articles and take articles down without a full retrain.

Off unless `RELATEDLY_ADMIN_TOKEN` is set (the routes then answer 404 as if absent). Every call needs
`Authorization: Bearer <token>`, compared in constant time: 401 without credentials, 403 with wrong
ones. Responses are never cached. The work is the same pipeline as `relatedly update` / `remove`
(`publishing.updates`), serialised with them by a lock; this worker swaps the new model in at once,
the others at their next `CURRENT` check (and at once where Redis announcements are configured).

A publish takes seconds on a large model, so each write runs as a job on this worker's job thread,
recorded in the database: the request waits up to `RELATEDLY_ADMIN_WAIT_SECONDS` and answers 200 with
the result, or else 202 with the job's address (`GET /v1/admin/jobs/<id>`, answered by any worker).
Input is checked before a job starts, so a bad request is still a 400 at once.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from typing import Any

from flask import Blueprint, Response, jsonify, request

from publishing.updates import UpdateResult, update_published
from recommender.corpus import parse_article
from recommender.errors import RelatedlyError
from recommender.limits import MAX_ARTICLES_PER_REQUEST as MAX_ARTICLES
from service.extensions import Relatedly, relatedly
from service.pages.editor_session import MAX_FAILURES_PER_ADDRESS, SignInLimiter, address_key
from service.pipeline.errors import ApiError
from service.pipeline.rate_limit import client_address
from service.server.exit import at_exit
from storage.jobs import finish_job, read_job, start_job

log = logging.getLogger("relatedly.admin")

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
    client = address_key(client_address(request.environ, relatedly().settings.trusted_proxies))
    limiter = SignInLimiter(relatedly().database, max_failures=MAX_FAILURES_PER_ADDRESS)  # the editor's, shared
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
    parts = relatedly()
    return _run_job(parts, "upsert", lambda: update_published(parts.settings.models_dir, articles,
                                                              keep_versions=parts.settings.keep_versions), notes)


@bp.delete("/articles/<path:article_id>")
def remove_article(article_id: str) -> Any:
    """Take an article down from every list and from the API: a takedown later updates keep, or with
    `?withdraw=true` a withdrawal (the CMS unpublished it) that a later add of the same id reverses."""
    parts = relatedly()
    withdraw = request.args.get("withdraw", "false").lower() in ("true", "1")
    loaded = parts.store.current()
    if loaded is None or article_id not in loaded.model:
        raise ApiError(404, "article_not_found", f"no article with id {article_id!r} in the current model")
    change = {"withdrawals": [article_id]} if withdraw else {"removals": [article_id]}
    return _run_job(parts, "remove", lambda: update_published(parts.settings.models_dir, **change,
                                                              keep_versions=parts.settings.keep_versions))


@bp.get("/jobs/<string:job_id>")
def job_status(job_id: str) -> Any:
    """A job's state (`running`, `done`, `failed`) and, once ended, its result or error."""
    job = read_job(relatedly().database, job_id) if job_id.isalnum() and len(job_id) <= 32 else None
    if job is None:
        raise ApiError(404, "job_not_found", f"no admin job {job_id!r}")
    return jsonify(job)


def _run_job(parts: Relatedly, kind: str, publish: Callable[[], UpdateResult], notes: list[str] | None = None) -> Any:
    """Run `publish` as a job; its result when it ends within the wait, else 202 and where to ask. `notes`
    name the values left out of the input (kept with the result)."""
    job_id = start_job(parts.database, kind)
    future = _job_thread().submit(_job, parts, job_id, publish, notes or [])
    try:
        return jsonify(job_id=job_id, **future.result(timeout=parts.settings.admin_wait_seconds))
    except WaitTimeout:
        response = jsonify(job_id=job_id, state="running", status_url=f"/v1/admin/jobs/{job_id}", notes=notes or [])
        response.status_code = 202
        response.headers["Location"] = f"/v1/admin/jobs/{job_id}"
        return response
    except RelatedlyError as exc:
        raise ApiError(409, "publish_failed", str(exc)) from None


def _job(parts: Relatedly, job_id: str, publish: Callable[[], UpdateResult], notes: list[str]) -> dict[str, Any]:
    try:
        result = publish()
    except Exception as exc:
        log.warning("admin_job_failed", extra={"fields": {"job_id": job_id, "error": type(exc).__name__}})
        finish_job(parts.database, job_id, {"code": "publish_failed", "message": str(exc)}, failed=True)
        raise
    parts.store.refresh()
    summary = {**_summary(result), "notes": notes}
    finish_job(parts.database, job_id, summary)
    return summary


def _summary(result: UpdateResult) -> dict[str, Any]:
    s = result.summary
    return {
        "model_version": result.version,
        "previous_version": result.previous,
        "added": s.added,
        "replaced": s.replaced,
        "removed": s.removed,
        "refused": s.refused,
        "recomputed_lists": s.recomputed_lists,
        "n_articles": result.n_articles,
        "retrain_recommended": result.drift.get("retrain_recommended", False),
    }


_JOBS: list[ThreadPoolExecutor] = []


def _job_thread() -> ThreadPoolExecutor:
    """This process's job thread (publishes are serialised by their lock anyway); started on first use,
    and finished before the process exits."""
    if not _JOBS:
        executor = ThreadPoolExecutor(1, thread_name_prefix="relatedly-admin-job")
        _JOBS.append(executor)
        at_exit(lambda: executor.shutdown(wait=True))
    return _JOBS[0]

"""The editor page, `GET /editor`: see an article's list as readers will, and correct it.

Server-rendered (Jinja) with a little vanilla JavaScript and no build step. Off (404) without
`RELATEDLY_ADMIN_TOKEN`. Editors sign in through a form — each named editor with their own token
(`RELATEDLY_EDITOR_TOKENS`), else with the admin token and a name — and get a session cookie (see
`service.pages.editor_session`); the page then works through the public API (the list, text queries)
and the admin API (pins, blocks, exclusions, search, readers' figures), sending its CSRF token with
every change.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request

from service.config import EDITOR_NAME as _NAME
from service.extensions import relatedly
from service.pages.editor_session import (
    MAX_FAILURES_PER_ADDRESS,
    SignInLimiter,
    address_key,
    clear_session_cookie,
    csrf_ok,
    current_session,
    editor_key,
    editor_signing_in,
    end_session,
    new_session,
    session_secret,
    set_session_cookie,
)
from service.pipeline.errors import ApiError
from service.pipeline.rate_limit import client_address

bp = Blueprint("editor", __name__, template_folder="templates", static_folder="static/editor",
               static_url_path="/editor/static")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@bp.before_request
def _enabled() -> None:
    if not relatedly().settings.admin_token:
        raise ApiError(404, "not_found", "The requested URL was not found on the server.")


@bp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/editor")
def page() -> Any:
    """The sign-in form, or the editor once signed in."""
    session = current_session(request, relatedly().settings, relatedly().database)
    if session is None:
        return _sign_in_form(None)
    loaded = relatedly().store.current()
    return render_template("editor/editor.html", session=session,
                           model_version=loaded.version if loaded else None)


@bp.post("/editor/sign-in")
def sign_in() -> Any:
    """Check the editor's token; set the session cookie, or answer 401 (429 after too many failures of this
    editor's name, or of this address)."""
    settings = relatedly().settings
    name = request.form.get("name", "").strip() or ("" if settings.editor_tokens else "editor")
    address = client_address(request.environ, settings.trusted_proxies)
    per_editor = SignInLimiter(relatedly().database)
    per_address = SignInLimiter(relatedly().database, max_failures=MAX_FAILURES_PER_ADDRESS)
    keys = ((per_editor, editor_key(name)), (per_address, address_key(address)))
    wait = max(limiter.retry_after(key) for limiter, key in keys)
    if wait:
        response = _sign_in_form(f"Too many failed sign-ins: try again in {wait} s.", 429)
        response.headers["Retry-After"] = str(wait)
        return response
    signed_in = editor_signing_in(settings, name, request.form.get("token", ""))
    if signed_in is None:
        for limiter, key in keys:
            limiter.failed(key)
        return _sign_in_form("That name and token do not match." if settings.editor_tokens
                             else "That token is not valid.", 401)
    if not _NAME.match(signed_in):
        return _sign_in_form("Use up to 60 letters, digits, spaces or .@'- for your name.", 400)
    response = redirect("/editor", code=303)
    set_session_cookie(response, request, new_session(signed_in), session_secret(settings))
    return response


def _sign_in_form(error: str | None, status: int = 200) -> Response:
    named = bool(relatedly().settings.editor_tokens)
    return Response(render_template("editor/sign_in.html", error=error, named=named), status=status)


@bp.post("/editor/sign-out")
def sign_out() -> Any:
    """End the session, on the server too (the form carries the CSRF token, so another site cannot sign an
    editor out)."""
    session = current_session(request, relatedly().settings, relatedly().database)
    if session is not None and not csrf_ok(request, session):
        raise ApiError(403, "csrf_failed", "send the editor page's CSRF token")
    if session is not None:
        end_session(relatedly().database, session)
    response = redirect("/editor", code=303)
    clear_session_cookie(response, request)
    return response

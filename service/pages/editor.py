"""The editor page, `GET /editor`: see an article's list as readers will, and correct it.

Server-rendered (Jinja) with a little vanilla JavaScript and no build step. Off (404) without
`RELATEDLY_ADMIN_TOKEN`. Editors sign in with the admin token through a form and get a session
cookie (see `service.pages.editor_session`); the page then works through the public API (the list,
text queries) and the admin overrides API (pins, blocks, exclusions, search), sending its CSRF
token with every change.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request

from service.extensions import relatedly
from service.pages.editor_session import (
    SignInLimiter,
    clear_session_cookie,
    csrf_ok,
    end_session,
    new_session,
    read_session,
    set_session_cookie,
)
from service.pipeline.errors import ApiError
from service.pipeline.rate_limit import client_address

bp = Blueprint("editor", __name__, template_folder="templates", static_folder="static/editor",
               static_url_path="/editor/static")
_NAME = re.compile(r"^[\w .@'-]{1,60}$")
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
    token = relatedly().settings.admin_token
    session = read_session(request, token, relatedly().database)
    if session is None:
        return render_template("editor/sign_in.html", error=None)
    loaded = relatedly().store.current()
    return render_template("editor/editor.html", session=session,
                           model_version=loaded.version if loaded else None)


@bp.post("/editor/sign-in")
def sign_in() -> Any:
    """Check the admin token; set the session cookie, or answer 401 (429 after too many failures)."""
    token = relatedly().settings.admin_token
    client = client_address(request.environ, relatedly().settings.trusted_proxies)
    limiter = SignInLimiter(relatedly().database)
    wait = limiter.retry_after(client)
    if wait:
        response = Response(render_template("editor/sign_in.html", error="Too many failed sign-ins: try again "
                                            f"in {wait} s."), status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    given = request.form.get("token", "")
    name = request.form.get("name", "").strip() or "editor"
    if not hmac.compare_digest(given.encode(), token.encode()):
        limiter.failed(client)
        return render_template("editor/sign_in.html", error="That token is not valid."), 401
    if not _NAME.match(name):
        return render_template("editor/sign_in.html", error="Use up to 60 letters, digits, spaces or .@'- "
                               "for your name."), 400
    response = redirect("/editor", code=303)
    set_session_cookie(response, request, new_session(name), token)
    return response


@bp.post("/editor/sign-out")
def sign_out() -> Any:
    """End the session, on the server too (the form carries the CSRF token, so another site cannot sign an
    editor out)."""
    session = read_session(request, relatedly().settings.admin_token, relatedly().database)
    if session is not None and not csrf_ok(request, session):
        raise ApiError(403, "csrf_failed", "send the editor page's CSRF token")
    if session is not None:
        end_session(relatedly().database, session)
    response = redirect("/editor", code=303)
    clear_session_cookie(response, request)
    return response

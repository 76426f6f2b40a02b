"""Editor sessions: sign in once with the admin token, then a signed cookie stands in for it.

The cookie holds the editor's name and a CSRF token, signed with a key derived from the admin token
(rotating the token signs every editor out); it is HttpOnly, SameSite=Strict, and Secure when the
request came over HTTPS (directly or through a proxy saying so). A state-changing request made with
the cookie must repeat the CSRF token in `X-CSRF-Token` (or the form field `csrf_token`), which a
page on another origin cannot read. Failed sign-ins are limited per editor name and, more loosely, per
client address (a newsroom behind one office address is not locked out by one person's typos), counted in
the database so every worker and host shares the count. Signing out ends the session on the server too:
its hash is recorded as revoked (until it would have expired), so a copy of the cookie no longer works.

Named editors (`RELATEDLY_EDITOR_TOKENS`) each sign in with their own token, and the name the audit trail
records is theirs; without them, the admin token and a name the editor types. Sessions are signed with
every token, so changing any of them signs every editor out; a removed editor's session ends at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from service.config import Settings
from storage import Database
from storage.sign_ins import recent_failed_sign_ins, record_failed_sign_in, revoke_session, session_revoked

COOKIE = "relatedly_editor"
SESSION_SECONDS = 12 * 3600
MAX_FAILURES = 5  # per editor name
MAX_FAILURES_PER_ADDRESS = 30  # per client address: a whole newsroom may sit behind one
FAILURE_WINDOW_SECONDS = 300.0
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class EditorSession:
    """A signed-in editor: the name recorded in the audit trail, and the session's CSRF token."""

    name: str
    csrf: str

    @property
    def actor(self) -> str:
        return f"editor:{self.name}"


def _serializer(admin_token: str) -> URLSafeTimedSerializer:
    key = hmac.new(admin_token.encode(), b"relatedly-editor-session", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt="editor-session")


def new_session(name: str) -> EditorSession:
    return EditorSession(name=name, csrf=secrets.token_urlsafe(24))


def read_session(request: Request, admin_token: str, database: Database) -> EditorSession | None:
    """The session the request's cookie proves, or None (absent, forged, expired, signed out, or token rotated)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(admin_token).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("csrf"), str):
        return None
    session = EditorSession(data["name"], data["csrf"])
    return None if session_revoked(database, _session_hash(session)) else session


def end_session(database: Database, session: EditorSession) -> None:
    """Sign out on the server: the session's cookie stops working everywhere, even where a copy was kept."""
    expires_at = datetime.now(UTC) + timedelta(seconds=SESSION_SECONDS)
    revoke_session(database, _session_hash(session), expires_at=expires_at)


def _session_hash(session: EditorSession) -> str:
    """The session's id in the database: a hash of its CSRF secret (random per sign-in), never the secret."""
    return hashlib.sha256(session.csrf.encode()).hexdigest()


def session_secret(settings: Settings) -> str:
    """What sessions are signed with: the admin token and every named editor's token."""
    return "\0".join([settings.admin_token or "", *(f"{name}:{token}" for name, token in settings.editor_tokens)])


def current_session(request: Request, settings: Settings, database: Database) -> EditorSession | None:
    """The request's session, if its signature holds, it was not signed out and (with named editors) its
    editor is still configured."""
    session = read_session(request, session_secret(settings), database)
    if session is not None and settings.editor_tokens and session.name not in dict(settings.editor_tokens):
        return None
    return session


def editor_signing_in(settings: Settings, name: str, token: str) -> str | None:
    """The name to sign in as when `token` is right for `name`, else None: a named editor's own token, or (with
    no named editors) the admin token under any name. Every token is compared, in constant time."""
    if not settings.editor_tokens:
        return name if hmac.compare_digest(token.encode(), (settings.admin_token or "").encode()) else None
    signed_in = None
    for editor, editor_token in settings.editor_tokens:
        if hmac.compare_digest(token.encode(), editor_token.encode()) and editor.casefold() == name.casefold():
            signed_in = editor
    return signed_in


def csrf_ok(request: Request, session: EditorSession) -> bool:
    """Whether a state-changing request repeats the session's CSRF token (safe methods need not)."""
    if request.method not in UNSAFE_METHODS:
        return True
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())


def set_session_cookie(response: Response, request: Request, session: EditorSession, admin_token: str) -> None:
    value = _serializer(admin_token).dumps({"name": session.name, "csrf": session.csrf})
    response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="Strict",
                        secure=_over_https(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=_over_https(request))


def _over_https(request: Request) -> bool:
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip() == "https"


def address_key(address: str) -> str:
    """The failure count of one client address, shared by the editor's sign-in and the admin API's tokens."""
    return f"address:{address}"


def editor_key(name: str) -> str:
    """The failure count of one editor name."""
    return f"editor:{name[:60].casefold()}"


class SignInLimiter:
    """At most `MAX_FAILURES` failed sign-ins per client address in a sliding window, across all workers."""

    def __init__(self, database: Database, max_failures: int = MAX_FAILURES,
                 window_seconds: float = FAILURE_WINDOW_SECONDS) -> None:
        self.database = database
        self.max_failures = max_failures
        self.window_seconds = window_seconds

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try again (0: now)."""
        count, oldest = recent_failed_sign_ins(self.database, client, window_seconds=self.window_seconds)
        if count < self.max_failures or oldest is None:
            return 0
        return max(1, int((oldest - datetime.now(UTC)).total_seconds() + self.window_seconds) + 1)

    def failed(self, client: str) -> None:
        record_failed_sign_in(self.database, client, window_seconds=self.window_seconds)

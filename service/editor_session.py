"""Editor sessions: sign in once with the admin token, then a signed cookie stands in for it.

The cookie holds the editor's name and a CSRF token, signed with a key derived from the admin token
(rotating the token signs every editor out); it is HttpOnly, SameSite=Strict, and Secure when the
request came over HTTPS (directly or through a proxy saying so). A state-changing request made with
the cookie must repeat the CSRF token in `X-CSRF-Token` (or the form field `csrf_token`), which a
page on another origin cannot read. Failed sign-ins are limited per client address and process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "relatedly_editor"
SESSION_SECONDS = 12 * 3600
MAX_FAILURES = 5
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


def read_session(request: Request, admin_token: str) -> EditorSession | None:
    """The session the request's cookie proves, or None (absent, forged, expired, or token rotated)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(admin_token).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("csrf"), str):
        return None
    return EditorSession(data["name"], data["csrf"])


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


class SignInLimiter:
    """At most `MAX_FAILURES` failed sign-ins per client address in a sliding window (per process)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_seconds: float = FAILURE_WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try again (0: now)."""
        with self._lock:
            recent = self._recent(client, time.monotonic())
            if len(recent) < self.max_failures:
                return 0
            return max(1, int(recent[0] + self.window_seconds - time.monotonic()) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
                self._failures = {c: q for c, q in self._failures.items() if q and q[-1] > now - self.window_seconds}

    def _recent(self, client: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and recent[0] <= now - self.window_seconds:
            recent.popleft()
        return recent

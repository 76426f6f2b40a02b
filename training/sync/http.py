"""Bounded HTTP GETs for `relatedly sync`: timeouts, a size cap, http(s) only, retries with back-off.

The stdlib's urllib is enough for GETs of JSON and XML, and adds no dependency. A followed site is
untrusted: a body over `max_bytes` is refused (by its Content-Length, else while reading), a response
that drips slower than the deadline is cut off, redirects may only lead to http(s) (urllib would also
follow ftp), and connection errors, 5xx and 429 are retried `retries` times with exponential back-off
(a 429/503's Retry-After is honoured up to `MAX_RETRY_AFTER_SECONDS`). Waits end at once on `stop`.
"""

from __future__ import annotations

import email.message
import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from recommender.errors import RelatedlyError

log = logging.getLogger("relatedly.sync")

USER_AGENT = "Relatedly-sync/1 (+https://github.com/relatedly)"
MAX_RETRY_AFTER_SECONDS = 60.0
MAX_REDIRECTS = 5
READ_BYTES = 256 * 1024


class FetchError(RelatedlyError):
    """A site could not be read: down, too slow, too big, an HTTP error, or an answer that makes no sense."""


class StopRequested(RelatedlyError):  # noqa: N818 - a request, not a failure
    """The job was asked to stop (SIGTERM) while it waited or read."""


@dataclass(frozen=True)
class HttpLimits:
    """How long, how big and how often: every request of a poll is bounded by these."""

    timeout_seconds: float = 30.0
    max_bytes: int = 32 * 2**20
    retries: int = 3
    backoff_seconds: float = 1.0


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: email.message.Message
    body: bytes


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if not newurl.lower().startswith(("http://", "https://")):
            raise FetchError(f"{req.full_url}: redirected to {newurl!r}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Fetcher:
    """GETs under `limits`; `stop` (set by SIGTERM) ends back-off waits and reads between chunks."""

    def __init__(self, limits: HttpLimits, stop: threading.Event | None = None) -> None:
        self.limits = limits
        self.stop = stop or threading.Event()
        self.requests = 0
        self._opener = urllib.request.build_opener(_HttpOnlyRedirects())

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """The response to a GET of `url` (2xx or 304), after retries; `FetchError` saying why not."""
        if not url.lower().startswith(("http://", "https://")):
            raise FetchError(f"{url}: only http and https URLs can be followed")
        attempts = self.limits.retries + 1
        for attempt in range(1, attempts + 1):
            self.check_stop()
            try:
                return self._get_once(url, headers or {})
            except _Retryable as exc:
                if attempt == attempts:
                    raise FetchError(f"{url}: {exc.reason} (after {attempts} attempts)") from None
                wait = exc.retry_after if exc.retry_after is not None else \
                    self.limits.backoff_seconds * 2 ** (attempt - 1)
                log.warning("sync_request_retry url=%s attempt=%d/%d error=%r wait_seconds=%.1f",
                            url, attempt, attempts, exc.reason, wait)
                if self.stop.wait(wait):
                    raise StopRequested("stopped while waiting to retry") from None
        raise AssertionError("not reached")  # pragma: no cover

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise StopRequested("stopped")

    def _get_once(self, url: str, headers: dict[str, str]) -> Response:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                                                       **headers})
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.limits.timeout_seconds) as reply:
                body = self._read(url, reply)
                return Response(reply.geturl(), reply.status, reply.headers, body)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 304:
                    return Response(url, 304, exc.headers, b"")
                if exc.code >= 500 or exc.code == 429:
                    raise _Retryable(f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers)) from None
                raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}{_error_detail(exc)}") from None
        except urllib.error.URLError as exc:
            raise _Retryable(f"cannot connect: {exc.reason}") from None
        except TimeoutError:
            raise _Retryable(f"no answer within {self.limits.timeout_seconds:g} s") from None
        except (http.client.HTTPException, ConnectionError) as exc:
            raise _Retryable(f"broken response: {type(exc).__name__} {exc}") from None

    def _read(self, url: str, reply: Any) -> bytes:
        """The body, refused past `max_bytes` and cut off past the deadline (a response that drips)."""
        limit = self.limits.max_bytes
        length = reply.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise FetchError(f"{url}: response of {int(length)} bytes is over the {limit}-byte limit")
        deadline = time.monotonic() + self.limits.timeout_seconds
        chunks, size = [], 0
        while chunk := reply.read(READ_BYTES):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"{url}: response is over the {limit}-byte limit")
            if time.monotonic() > deadline:
                raise _Retryable(f"response not complete within {self.limits.timeout_seconds:g} s")
            self.check_stop()
            chunks.append(chunk)
        return b"".join(chunks)


class _Retryable(Exception):  # noqa: N818 - internal signal, never leaves this module
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(headers: email.message.Message) -> float | None:
    value = (headers.get("Retry-After") or "").strip()
    return min(float(value), MAX_RETRY_AFTER_SECONDS) if value.isdigit() else None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The start of an error body (WordPress and Ghost explain themselves in JSON), one line."""
    try:
        text = exc.read(300).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    text = " ".join(text.split())
    return f": {text}" if text else ""

"""The WSGI app behind granian's RSGI interface, so a request body is read before any Python thread waits on it.

granian's WSGI interface hands a request to the app's thread as soon as its headers are in and streams
the body into `wsgi.input`: a client that sends `Content-Length: 100` and one byte holds that thread
until it gives up, and two such clients stop a two-worker service (measured: every GET timed out).
Here each body is read on the worker's event loop, which waits on any number of connections at once,
within `body_timeout_seconds` and `max_body_bytes`; only a complete request reaches the app. Requests
that read or write the database or publish (anything but GET and HEAD) run on a thread pool, so the
event loop keeps reading while they wait; GETs, which only compute, run on the loop itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = tuple[int, list[tuple[str, str]], bytes]

_INLINE_METHODS = frozenset({"GET", "HEAD"})


class BufferedWsgi:
    """An RSGI application (`__rsgi__`) that runs a WSGI app on complete requests."""

    def __init__(self, app: WsgiApp, *, max_body_bytes: int, body_timeout_seconds: float, threads: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        headers = scope.headers
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            status, message = (413, "payload_too_large") if declared.isdigit() else (400, "bad_request")
            return _error(proto, status, message, "the request body is too large" if status == 413
                          else "Content-Length is not a number")
        body = b""
        if declared not in (None, "0") or "transfer-encoding" in headers:
            try:
                body = await asyncio.wait_for(self._read(proto), self.body_timeout_seconds)
            except TimeoutError:
                return _error(proto, 408, "request_timeout",
                              f"the request body did not arrive within {self.body_timeout_seconds:g} s")
            except _TooLarge:
                return _error(proto, 413, "payload_too_large", "the request body is too large")
        environ = _environ(scope, body)
        if scope.method in _INLINE_METHODS:
            status, response_headers, content = self._call(environ)
        else:
            loop = asyncio.get_running_loop()
            status, response_headers, content = await loop.run_in_executor(self._executor(), self._call, environ)
        proto.response_bytes(status, response_headers, content)

    async def _read(self, proto: Any) -> bytes:
        chunks, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="relatedly-request")
        return self._pool

    def _call(self, environ: dict[str, Any]) -> Answer:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [int(status.split(" ", 1)[0]), headers]

        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return started[0], started[1], content


class _TooLarge(Exception):
    pass


def _error(proto: Any, status: int, code: str, message: str) -> None:
    """The service's JSON error shape, for the few answers given before the app sees the request."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    proto.response_bytes(status, [("content-type", "application/json"), ("connection", "close")], body)


def _environ(scope: Any, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an RSGI request scope and its complete body."""
    server_host, _, server_port = scope.server.rpartition(":")
    client_host = scope.client.rpartition(":")[0]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client_host.strip("[]"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        key = f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ

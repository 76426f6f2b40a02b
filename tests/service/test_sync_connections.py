"""How a worker writes an answer and closes its connection (service/single_write.py, prompt_close.py).

Against `relatedly serve` with one worker, over raw sockets, each request with `Connection: close` as a
proxy sends one request per connection: a small answer arrives in one piece, its headers and body sent
together; a client that reads its answer and keeps its connection open does not hold the worker
(gunicorn's lingering close waited up to 2 s for it, and a kept-alive connection must not either), and
a client whose body the server did not read still gets the whole answer (the RST the lingering close
exists to prevent). Keep-alive itself: tests/service/test_keepalive_worker.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SPACE_STATION_ID, live_service


@pytest.fixture(scope="module")
def base(sample_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    metrics = tmp_path_factory.mktemp("metrics")
    env = {"RELATEDLY_MODELS_DIR": str(sample_models_dir), "RELATEDLY_LOG_LEVEL": "WARNING",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with live_service(env, workers=1) as url:
        yield url


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes its side."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize(
    "request_line",
    [f"GET /v1/articles/{SPACE_STATION_ID}/related", "GET /healthz", f"HEAD /v1/articles/{SPACE_STATION_ID}/related"],
    ids=["fast-path", "flask", "head"],
)
def test_a_small_answer_arrives_in_one_read(base: str, request_line: str) -> None:
    for _ in range(20):  # headers written apart from the body would come first in some of these reads
        with _connect(base) as sock:
            sock.sendall(f"{request_line} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
            first = sock.recv(1 << 20)
            rest = _answer(sock)
        head, _, body = first.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and rest == b""
        length = int(dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])["Content-Length"])
        assert len(body) == (0 if request_line.startswith("HEAD") else length)


def test_an_empty_answer_still_gets_its_headers(base: str) -> None:
    with _connect(base) as sock:
        sock.sendall(f"GET /v1/articles/{SPACE_STATION_ID}/related HTTP/1.1\r\nHost: test\r\n"
                     "Connection: close\r\n\r\n".encode())
        etag = next(line.split(": ", 1)[1] for line in _answer(sock).decode().split("\r\n") if line.startswith("ETag"))
    with _connect(base) as sock:
        sock.sendall(f"GET /v1/articles/{SPACE_STATION_ID}/related HTTP/1.1\r\nHost: test\r\n"
                     f"If-None-Match: {etag}\r\nConnection: close\r\n\r\n".encode())
        head, _, body = _answer(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 304") and body == b""


@pytest.mark.parametrize("connection", ["close", "keep-alive"])
def test_a_client_that_keeps_its_connection_open_does_not_hold_the_worker(base: str, connection: str) -> None:
    lingering = _connect(base)
    lingering.sendall(f"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: {connection}\r\n\r\n".encode())
    # the whole answer (then, with `close`, the server's FIN); the connection stays open on our side
    assert (_answer(lingering) if connection == "close" else lingering.recv(1 << 20)).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    with _connect(base) as second:
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        assert _answer(second).startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 0.5  # the worker did not wait for the first client's next move
    lingering.close()


def test_an_unread_body_does_not_cut_the_answer_short(base: str) -> None:
    body = b"x" * 300_000  # beyond the events limit: answered 413 before the body is read
    with _connect(base) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        with contextlib.suppress(OSError):  # the server may stop reading; what counts is the answer
            sock.sendall(body)
        head, _, payload = _answer(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(payload)["error"]["code"]

"""A sync worker is free for the next connection as soon as it has answered, yet never truncates an answer.

Against `relatedly serve` with one worker, over raw sockets: a client that reads its answer and keeps
its connection open does not hold the worker (gunicorn's lingering close waited up to 2 s for it), and
a client whose body the server did not read still gets the whole answer (the RST the lingering close
exists to prevent).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import live_service


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


def test_a_client_that_keeps_its_connection_open_does_not_hold_the_worker(base: str) -> None:
    lingering = _connect(base)
    lingering.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert _answer(lingering).startswith(b"HTTP/1.1 200")  # and the connection stays open on our side
    started = time.monotonic()
    with _connect(base) as second:
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert _answer(second).startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 0.5  # the worker did not wait for the first client's close
    lingering.close()


def test_an_unread_body_does_not_cut_the_answer_short(base: str) -> None:
    body = b"x" * 300_000  # beyond the events limit: answered 413 before the body is read
    with _connect(base) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        with contextlib.suppress(OSError):  # the server may stop reading; what counts is the answer
            sock.sendall(body)
        head, _, payload = _answer(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(payload)["error"]["code"]

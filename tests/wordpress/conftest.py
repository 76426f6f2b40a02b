"""A real Relatedly service (the sample corpus, trained by the CLI, served by `relatedly serve` with an admin
token) and a real WordPress site with the plugin activated and pointed at it, shared by the module's tests."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RELATEDLY, SAMPLE_CORPUS, free_port, live_service
from tests.wordpress.site import WordPressSite

# A filter the tests use to turn the block off for one post (the `relatedly_auto_insert` hook).
TEST_MU_PLUGIN = """<?php
add_filter('relatedly_auto_insert', function ($on, $post) {
    return $on && !get_post_meta($post->ID, 'relatedly_test_no_block', true);
}, 10, 2);
"""

TIMINGS: list[tuple[str, float]] = []


class RelatedlyService:
    """`relatedly serve` on one fixed loopback port (the site's constant names it), stopped and started again."""

    def __init__(self, models_dir: Path, token: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_ADMIN_TOKEN": token}
        self._running: contextlib.ExitStack | None = None

    def start(self) -> None:
        if self._running is None:
            stack = contextlib.ExitStack()
            # one worker: it swaps in the version its admin call publishes at once, so every answer after a
            # delivery shows it (a second worker would follow at its next CURRENT check, ≤ 1 s later)
            stack.enter_context(live_service(self.env, workers=1, port=self.port))
            self._running = stack

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture(scope="session")
def relatedly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelatedlyService]:
    """The sample corpus trained with `relatedly train` and served; a test that stops it starts it again."""
    models_dir = tmp_path_factory.mktemp("wordpress-models")
    subprocess.run([RELATEDLY, "train", "--corpus", str(SAMPLE_CORPUS), "--models-dir", str(models_dir)],
                   check=True, capture_output=True, timeout=600)
    service = RelatedlyService(models_dir, secrets.token_hex(16))
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, relatedly: RelatedlyService) -> Iterator[WordPressSite]:
    """A fresh WordPress (Debian's package, MariaDB) served by `php -S`, the plugin activated and configured
    by RELATEDLY_SERVICE_URL and RELATEDLY_ADMIN_TOKEN alone. The plugin must log no PHP error or notice."""
    directory = tmp_path_factory.mktemp("wordpress") / "site"
    wordpress = WordPressSite(directory, service_url=relatedly.url, admin_token=relatedly.env["RELATEDLY_ADMIN_TOKEN"])
    wordpress.install()
    (directory / "wp-content" / "mu-plugins").mkdir()
    (directory / "wp-content" / "mu-plugins" / "relatedly-test.php").write_text(TEST_MU_PLUGIN)
    wordpress.serve()
    yield wordpress
    wordpress.drop()
    problems = [line for line in wordpress.debug_log().splitlines() if "plugins/relatedly" in line]
    assert not problems, "the plugin logged PHP problems:\n" + "\n".join(problems[:20])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The measured delays, for the report."""
    if TIMINGS:
        terminalreporter.section("WordPress plugin timings")
        for name, seconds in TIMINGS:
            terminalreporter.write_line(f"{name}: {seconds:.2f} s")

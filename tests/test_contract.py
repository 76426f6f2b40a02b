"""Contract: the CLI trains into a temp dir, `relatedly serve` (granian) serves it over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID, free_port

RELATEDLY = str(Path(sys.executable).parent / "relatedly")


def _get(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


@pytest.fixture()
def served(tmp_path: Path, redis_url: str, cache_prefix: str):
    models_dir = tmp_path / "models"
    env = {**os.environ, "CI": "true", "RELATEDLY_MODELS_DIR": str(models_dir), "RELATEDLY_REDIS_URL": redis_url,
           "RELATEDLY_CACHE_PREFIX": cache_prefix, "RELATEDLY_HOST": "127.0.0.1", "PORT": str(free_port()),
           "WEB_CONCURRENCY": "2", "RELATEDLY_RELOAD_SECONDS": "0.2"}
    trained = subprocess.run([RELATEDLY, "train", "--corpus", str(SAMPLE_CORPUS)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert trained.returncode == 0, trained.stderr
    server = subprocess.Popen([RELATEDLY, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    base = f"http://127.0.0.1:{env['PORT']}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if _get(f"{base}/readyz")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail(f"relatedly serve never became ready:\n{server.communicate()[0]}")
        time.sleep(0.1)
    yield base, env, server
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def test_trained_model_is_served_over_http(served) -> None:
    base, _, server = served
    status, headers, body = _get(f"{base}/v1/articles/{SPACE_STATION_ID}/related?limit=5")
    assert status == 200
    assert len(body["related"]) == 5
    assert headers["X-Model-Version"] == body["model_version"]
    assert _get(f"{base}/v1/articles/{SPACE_STATION_ID}/related?limit=5")[1]["X-Cache"] == "hit"

    for path, expected in [("/v1/articles/unknown/related", 404), (f"/v1/articles/{SPACE_STATION_ID}/related"
                           "?limit=abc", 400), (f"/v1/articles/{SPACE_STATION_ID}/related?limit=100000", 400)]:
        status, headers, body = _get(base + path)
        assert status == expected
        assert headers["Content-Type"] == "application/json"
        assert body["error"]["code"]
    ready = _get(f"{base}/readyz")[2]
    assert ready["cache"] == {"backend": "redis", "state": "ok", "error": None}


def test_a_new_training_run_is_served_without_restart(served) -> None:
    base, env, _ = served
    old = _get(f"{base}/readyz")[2]["model_version"]
    retrained = subprocess.run([RELATEDLY, "train", "--corpus", str(SAMPLE_CORPUS), "--top-k", "20"], env=env,
                               capture_output=True, text=True, timeout=120)
    assert retrained.returncode == 0, retrained.stderr
    deadline = time.monotonic() + 10
    versions = set()
    while time.monotonic() < deadline:  # both workers must have switched
        status, _, body = _get(f"{base}/v1/articles/{SPACE_STATION_ID}/related?limit=3")
        assert status == 200
        versions = {_get(f"{base}/readyz")[2]["model_version"] for _ in range(6)}
        if old not in versions:
            break
        time.sleep(0.1)
    assert old not in versions and len(versions) == 1
    assert _get(f"{base}/v1/articles/{SPACE_STATION_ID}/related?limit=21")[0] == 400  # the new K is 20

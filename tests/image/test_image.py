"""The Docker image, for real (`make test-image`): a non-root container serving the baked sample model, healthy
by its HEALTHCHECK; a host corpus trained in a fresh container without compiling; versions, pins and events kept
on the named volume across containers."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID
from tests.image.conftest import Container, Docker, wait_until

pytestmark = pytest.mark.image

BAKED_CORPUS = "/usr/share/relatedly/sample/articles.jsonl"


def test_the_image_declares_its_user_port_volume_and_healthcheck(image: dict[str, Any]) -> None:
    assert image["User"] == "relatedly"
    assert "8000/tcp" in image["ExposedPorts"]
    assert "/models" in image["Volumes"]
    assert "/readyz" in " ".join(image["Healthcheck"]["Test"])


def test_a_container_serves_the_sample_as_a_non_root_user_ready_then_healthy(docker: Docker) -> None:
    started = time.monotonic()
    container = docker.start()
    wait_until(container.ready, 30, "/readyz 200 after docker run")
    ready_seconds = time.monotonic() - started
    assert container.exec("id", "-u").strip() != "0"
    assert _uid(container, pid=1) != "0"  # the server itself, not only a shell beside it
    assert container.get("/readyz")[1]["n_articles"] == 156
    status, body = container.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3")
    assert status == 200 and body["count"] == 3
    wait_until(lambda: container.health() == "healthy", 60 - ready_seconds, "HEALTHCHECK healthy after docker run")
    print(f"container ready {ready_seconds:.1f} s, healthy {time.monotonic() - started:.1f} s after docker run")


def test_a_corpus_mounted_from_the_host_trains_in_a_fresh_container_without_compiling(
    docker: Docker, tmp_path: Path
) -> None:
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir(mode=0o755)
    corpus_dir.chmod(0o755)  # readable by the image's user whatever the umask
    shutil.copy(SAMPLE_CORPUS, corpus_dir / "x.jsonl")
    (corpus_dir / "x.jsonl").chmod(0o644)
    started = time.monotonic()
    result = docker.run("relatedly", "train", "--corpus", "/corpus/x.jsonl", mounts={str(corpus_dir): "/corpus:ro"})
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "156 articles (0 skipped)" in result.stdout and "published to /models" in result.stdout
    print(f"docker run … relatedly train of the sample corpus: {seconds:.1f} s")
    assert seconds <= 5


def test_versions_pins_and_events_survive_a_new_container_on_the_same_volume(docker: Docker) -> None:
    volume = docker.volume()
    first = docker.start(mounts={volume: "/models"})
    wait_until(first.ready, 30, "first container ready")
    trained = first.exec("relatedly", "train", "--corpus", BAKED_CORPUS)
    version = re.search(r"^trained version (\S+):", trained, re.MULTILINE)[1]
    wait_until(lambda: first.get("/readyz")[1]["model_version"] == version, 10, "the new version served")
    model_list = _related_ids(first)
    pinned = model_list[-1]
    first.exec("relatedly", "pin", SPACE_STATION_ID, pinned)
    wait_until(lambda: _related_ids(first)[0] == pinned, 10, "the CLI's pin served by the running service")
    impression = {"type": "impression", "list_id": "image-test", "article_id": SPACE_STATION_ID,
                  "model_version": version, "items": model_list[:3]}
    click = {"type": "click", "list_id": "image-test", "article_id": SPACE_STATION_ID,
             "model_version": version, "target": model_list[0], "position": 1}
    assert first.post("/v1/events", impression) == 204 and first.post("/v1/events", click) == 204
    wait_until(lambda: _impressions_and_clicks(first, version) == (3, 1), 10, "the events written")
    docker("stop", first.id)

    second = docker.start(mounts={volume: "/models"})
    wait_until(second.ready, 30, "second container ready")
    assert second.get("/readyz")[1]["model_version"] == version
    assert [line.split()[:2] for line in second.exec("relatedly", "models", "list").splitlines()][-1] == ["*", version]
    assert len(second.exec("relatedly", "models", "list").splitlines()) == 2  # the baked sample and ours
    status, body = second.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=10")
    assert (body["related"][0]["id"], body["related"][0]["source"]) == (pinned, "pinned")
    assert _impressions_and_clicks(second, version) == (3, 1)


def _uid(container: Container, pid: int) -> str:
    status = container.exec("cat", f"/proc/{pid}/status")
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))


def _related_ids(container: Container) -> list[str]:
    status, body = container.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=10")
    assert status == 200
    return [item["id"] for item in body["related"]]


def _impressions_and_clicks(container: Container, version: str) -> tuple[int, int] | None:
    """The version's row of `relatedly report clicks`: model version, lists, clicked, list CTR, impressions, …"""
    for line in container.exec("relatedly", "report", "clicks").splitlines():
        fields = line.split()
        if fields and fields[0] == version:
            return int(fields[4]), int(fields[5])
    return None

"""The model store follows the CURRENT pointer, swaps whole models, and keeps the last good one."""

from __future__ import annotations

import gc
import json
import shutil
import sys
import threading
import time
from pathlib import Path

from publishing.train import train_and_publish
from recommender import artifacts
from service import create_app
from service.config import Settings
from service.models.store import LOAD_SWITCH_INTERVAL_SECONDS, ModelStore
from tests.conftest import SAMPLE_CORPUS, SPACE_STATION_ID


def _broken_copy_of_current(models_dir: Path) -> str:
    """A complete-looking version whose neighbour file does not match its checksum."""
    old = artifacts.read_current(models_dir)
    broken = "29990101T000000Z-broken"
    shutil.copytree(models_dir / artifacts.VERSIONS / old, models_dir / artifacts.VERSIONS / broken)
    manifest_path = models_dir / artifacts.VERSIONS / broken / artifacts.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = broken
    manifest_path.write_text(json.dumps(manifest))
    with open(models_dir / artifacts.VERSIONS / broken / "neighbors.npz", "r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\x00garbage")
    return broken


def test_refresh_swaps_only_when_the_pointer_changes(models_dir: Path) -> None:
    store = ModelStore(models_dir)
    assert store.refresh() is True
    first = store.current()
    assert store.refresh() is False
    assert store.current() is first

    new_version = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10).version
    assert store.refresh() is True
    assert store.current().version == new_version
    assert store.current().model.top_k == 10


def test_rollback_is_publishing_an_older_version(models_dir: Path) -> None:
    store = ModelStore(models_dir)
    store.refresh()
    old = store.current().version
    train_and_publish(SAMPLE_CORPUS, models_dir, top_k=50)
    store.refresh()
    artifacts.publish(models_dir, old)
    assert store.refresh() is True
    assert store.current().version == old


def test_a_loaded_model_is_kept_out_of_the_garbage_collector(models_dir: Path) -> None:
    """A full collection would walk the whole model holding the GIL; after a load it walks nothing of it,
    and swapping versions back and forth leaves nothing behind in the frozen generation."""
    first = artifacts.read_current(models_dir)
    second = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=10).version
    store = ModelStore(models_dir)
    frozen = []
    for version in (first, second) * 3:
        artifacts.publish(models_dir, version)
        assert store.refresh() is True
        frozen.append(gc.get_freeze_count())
        assert gc.isenabled()
    ids = store.current().model.catalog_.to_columns()["ids"]
    assert not any(tracked is ids for tracked in gc.get_objects())
    assert frozen[-1] - frozen[1] < (len(frozen) - 2) * 20  # a few objects at most, not a load's leftovers


def test_a_load_hands_the_gil_over_more_often_and_then_restores_the_default(models_dir: Path) -> None:
    """The request threads of a worker wait at most ~1 ms for the GIL while a version loads (also one that fails)."""
    seen = []

    def prepare(version: str, model: object, stored: object) -> None:
        seen.append(sys.getswitchinterval())
        raise ValueError("prepared badly")

    default = sys.getswitchinterval()
    store = ModelStore(models_dir, prepare=prepare)
    assert store.refresh() is False and "prepared badly" in store.last_error
    assert seen == [LOAD_SWITCH_INTERVAL_SECONDS] and default > LOAD_SWITCH_INTERVAL_SECONDS
    assert sys.getswitchinterval() == default


def test_a_broken_version_keeps_the_last_good_model(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=str(models_dir)), watch=False)
    store = app.extensions["relatedly"].store
    good = store.current().version
    broken = _broken_copy_of_current(models_dir)
    artifacts.publish(models_dir, broken)

    assert store.refresh() is False
    assert store.current().version == good
    assert broken in store.last_error and "checksum" in store.last_error
    client = app.test_client()
    ready = client.get("/readyz").get_json()
    assert ready["model_version"] == good
    assert broken in ready["last_reload_error"]
    assert client.get(f"/v1/articles/{SPACE_STATION_ID}/related").status_code == 200


def test_the_watcher_serves_a_new_model_without_restart_and_no_request_fails(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=str(models_dir), reload_seconds=0.05))
    client = app.test_client()
    old = client.get(f"/v1/articles/{SPACE_STATION_ID}/related").get_json()["model_version"]
    failures: list[int] = []
    seen: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        own = app.test_client()
        while not stop.is_set():
            response = own.get(f"/v1/articles/{SPACE_STATION_ID}/related?limit=3")
            if response.status_code != 200 or response.headers["X-Model-Version"] != response.get_json()[
                "model_version"
            ]:
                failures.append(response.status_code)
            seen.add(response.get_json()["model_version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        new = train_and_publish(SAMPLE_CORPUS, models_dir, top_k=50).version
        deadline = time.monotonic() + 5
        while client.get("/readyz").get_json()["model_version"] != new and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
    finally:
        stop.set()
        worker.join()
        app.extensions["relatedly"].store.stop_watching()
    assert client.get("/readyz").get_json()["model_version"] == new
    assert failures == []
    assert seen <= {old, new} and new in seen

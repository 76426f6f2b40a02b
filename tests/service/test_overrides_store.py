"""The per-process overrides snapshot: the doorbell file, the poll, Redis announcements, a failing database."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from service.models.overrides import OverrideStore
from storage import Database
from storage.overrides import REVISION_FILE, REVISION_FORMAT, announce_overrides, ring_doorbell, set_pins


def _wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_doorbell_makes_the_next_request_reload(database: Database, tmp_path: Path) -> None:
    store = OverrideStore(database, tmp_path)
    assert store.current().revision == 0
    set_pins(database, "a", ["b"], actor="t")
    assert store.current().revision == 0  # no doorbell yet: no query on the request path
    ring_doorbell(tmp_path)
    assert store.current().rules_for("a").pins == ("b",)


def test_a_doorbell_left_by_another_database_still_rings(database: Database, tmp_path: Path) -> None:
    """The file outlives databases (restored, replaced): a ring is never mistaken for one already heard, even
    when the new database reaches the revision the old one had when it last rang."""
    (tmp_path / REVISION_FILE).write_bytes(struct.pack(REVISION_FORMAT, 1))  # the old database rang at revision 1
    store = OverrideStore(database, tmp_path)
    assert store.current().revision == 0
    assert set_pins(database, "a", ["b"], actor="t") == 1
    ring_doorbell(tmp_path)
    assert store.current().rules_for("a").pins == ("b",)


def test_the_poll_and_a_redis_announcement_reach_other_hosts(database: Database, tmp_path: Path, redis_url) -> None:
    polled = OverrideStore(database, tmp_path / "host-a", poll_seconds=0.05)
    announced = OverrideStore(database, tmp_path / "host-b", poll_seconds=3600)
    polled.start_watching()
    announced.start_watching(redis_url)
    try:
        assert polled.current().revision == announced.current().revision == 0
        time.sleep(0.3)  # the listener subscribes
        revision = set_pins(database, "a", ["b"], actor="t")
        assert announce_overrides(redis_url, revision)
        assert _wait_for(lambda: announced.current().revision == revision)
        assert _wait_for(lambda: polled.current().revision == revision)
    finally:
        polled.stop_watching()
        announced.stop_watching()


def test_a_failing_database_keeps_the_last_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "relatedly.db"
    database = Database.from_url(f"sqlite:///{path}")
    database.upgrade()
    store = OverrideStore(database, tmp_path)
    set_pins(database, "a", ["b"], actor="t")
    ring_doorbell(tmp_path)
    assert store.current().revision == 1
    database.dispose()
    path.unlink()  # the next connection finds an empty file: no tables
    ring_doorbell(tmp_path)
    snapshot = store.current()
    assert snapshot.revision == 1 and snapshot.rules_for("a").pins == ("b",)
    assert store.last_error is not None and "OperationalError" in store.last_error

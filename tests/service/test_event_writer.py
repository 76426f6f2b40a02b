"""The batching event writer and the per-client rate limiter, against a real database."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.events.spool import EventSpool
from service.events.writer import EventWriter
from service.pipeline.rate_limit import RateLimiter, client_address
from storage import Database
from storage.events import EventRow, position_stats
from storage.schema import events

NOW = datetime.now(UTC)


def row(position: int) -> EventRow:
    return EventRow(NOW, "impression", "l", "a", f"s{position}", position, "v")


def spool_in(tmp_path: Path, max_bytes: int = 1 << 20) -> EventSpool:
    return EventSpool(tmp_path / "spool", max_bytes=max_bytes)


def stored(database: Database) -> int:
    with database.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def wait_until(condition, timeout_seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_rows_are_written_in_batches(database, tmp_path: Path) -> None:
    writer = EventWriter(database, spool_in(tmp_path), batch_rows=7, flush_seconds=0.05)
    for position in range(1, 21):
        assert writer.add([row(position)])
    assert writer.flush()
    assert [s.position for s in position_stats(database, datetime(2000, 1, 1, tzinfo=UTC))] == list(range(1, 21))
    assert writer.status() == {"state": "ok", "queued_rows": 0, "spooled_rows": 0, "last_error": None}
    writer.close()


def test_rows_the_database_refuses_are_spooled_then_written_once_it_works(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'later.db'}")  # no tables yet: every insert fails
    writer = EventWriter(database, spool_in(tmp_path), flush_seconds=0.01, retry_seconds=0.05)
    assert writer.add([row(1), row(2)])
    assert writer.flush(timeout_seconds=5)  # durable: in the spool
    status = writer.status()
    assert status["state"] == "degraded" and status["spooled_rows"] == 2 and "no such table" in status["last_error"]
    assert writer.add([row(3)]) and writer.flush()
    database.upgrade()
    assert wait_until(lambda: writer.status()["state"] == "ok")
    assert [s.position for s in position_stats(database, datetime(2000, 1, 1, tzinfo=UTC))] == [1, 2, 3]
    assert writer.status()["spooled_rows"] == 0 and not list((tmp_path / "spool").glob("*.jsonl"))
    writer.close()


def test_close_spools_what_the_database_will_not_take_and_a_new_writer_replays_it(tmp_path: Path) -> None:
    """The graceful-stop case: close() waits for the thread; nothing acknowledged is lost across a restart."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'down.db'}")
    writer = EventWriter(database, spool_in(tmp_path), flush_seconds=10, retry_seconds=10)
    for position in range(1, 1001):
        assert writer.add([row(position % 50 + 1)])
    writer.close()  # no flush first: close alone must keep all 1,000
    assert writer.status()["queued_rows"] == 0
    database.upgrade()
    later = EventWriter(database, spool_in(tmp_path), flush_seconds=0.01)
    later.start_if_spooled()
    assert wait_until(lambda: stored(database) == 1000)
    later.close()
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def test_a_spool_file_held_by_a_live_writer_is_not_replayed_by_another(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'down.db'}")
    first = EventSpool(tmp_path / "spool", max_bytes=1 << 20)
    assert first.append([row(1), row(2)]) == 2
    database.upgrade()
    second = EventSpool(tmp_path / "spool", max_bytes=1 << 20)
    writer = EventWriter(database, second)
    writer.start_if_spooled()
    time.sleep(0.3)
    assert stored(database) == 0  # the first spool is still held (its process is alive)
    first.close()  # released, as when its process exits
    assert second.replay(lambda rows: writer._write_replayed(rows), 100) == 2
    assert stored(database) == 2
    writer.close()


def test_a_full_queue_drops_instead_of_growing_and_counts_it(tmp_path: Path, log_lines) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'never.db'}")
    writer = EventWriter(database, spool_in(tmp_path), max_queued_rows=3, flush_seconds=10, retry_seconds=10)
    before = dropped_count()
    assert writer.add([row(1), row(2), row(3)])
    assert not writer.add([row(4)])
    assert dropped_count() == before + 1
    assert any(line["event"] == "events_dropped" and line["reason"] == "queue_full" for line in log_lines())
    writer.close()


def test_a_full_spool_drops_and_counts_the_rest(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'never.db'}")
    writer = EventWriter(database, spool_in(tmp_path, max_bytes=1024), flush_seconds=0.01, retry_seconds=10)
    before = dropped_count()
    for position in range(1, 101):
        assert writer.add([row(position)])
    assert writer.flush()
    spooled = writer.status()["spooled_rows"]
    assert 0 < spooled < 100
    assert dropped_count() == before + 100 - spooled
    writer.close()


def dropped_count() -> float:
    from prometheus_client import REGISTRY
    return REGISTRY.get_sample_value("relatedly_events_total", {"result": "dropped"}) or 0.0


def test_the_rate_limiter_refills_over_time() -> None:
    limiter = RateLimiter(60)  # one a second, bursts of 60
    assert all(limiter.allow("a", now=100.0) for _ in range(60))
    assert not limiter.allow("a", now=100.0)
    assert limiter.allow("b", now=100.0)
    assert limiter.allow("a", now=101.0) and not limiter.allow("a", now=101.0)
    assert limiter.retry_after_seconds() == 1
    assert all(RateLimiter(0).allow("a", now=1.0) for _ in range(1000))


def test_the_rate_limiter_forgets_the_least_recent_clients() -> None:
    limiter = RateLimiter(1, max_clients=2)
    assert limiter.allow("a", now=0.0) and limiter.allow("b", now=0.0) and limiter.allow("c", now=0.0)
    assert limiter.allow("a", now=0.0)  # forgotten: a fresh bucket
    assert not limiter.allow("c", now=0.0)


@pytest.mark.parametrize(("forwarded_for", "trusted_proxies", "expected"), [
    (None, 0, "10.0.0.1"),
    ("203.0.113.9", 0, "10.0.0.1"),  # no proxy trusted: the header is the client's own claim
    ("203.0.113.9", 1, "203.0.113.9"),
    ("198.51.100.1, 203.0.113.9", 1, "203.0.113.9"),  # the left entry was sent by the client: ignored
    ("198.51.100.1, 203.0.113.9, 192.0.2.5", 2, "203.0.113.9"),
    ("203.0.113.9", 2, "10.0.0.1"),  # fewer entries than proxies: it did not come through them all
    (None, 1, "10.0.0.1"),
    (" , ", 1, "10.0.0.1"),
    ("x" * 500, 1, "x" * 64),
])
def test_the_client_address_believes_only_trusted_proxies(forwarded_for, trusted_proxies, expected) -> None:
    environ = {"REMOTE_ADDR": "10.0.0.1"} | ({"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {})
    assert client_address(environ, trusted_proxies) == expected


def test_a_replay_that_fails_half_way_keeps_only_the_rows_not_written(tmp_path: Path) -> None:
    spool = spool_in(tmp_path)
    assert spool.append([row(position) for position in range(1, 6)]) == 5
    written: list[int] = []

    def write_two_then_fail(rows: list[EventRow]) -> None:
        if written:
            raise OSError("the database went away again")
        written.extend(r.position for r in rows)

    with pytest.raises(OSError):
        spool.replay(write_two_then_fail, batch_rows=2)
    assert written == [1, 2] and spool.rows == 3
    spool.close()  # as at exit: the next process takes the file over
    later = spool_in(tmp_path)
    assert later.replay(lambda rows: written.extend(r.position for r in rows), batch_rows=2) == 3
    assert written == [1, 2, 3, 4, 5] and not list((tmp_path / "spool").glob("*.jsonl"))

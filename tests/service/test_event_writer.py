"""The batching event writer and the per-client rate limiter, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.events.writer import EventWriter
from service.pipeline.rate_limit import RateLimiter, client_address
from storage import Database
from storage.events import EventRow, position_stats

NOW = datetime.now(UTC)


def row(position: int) -> EventRow:
    return EventRow(NOW, "impression", "l", "a", f"s{position}", position, "v")


def test_rows_are_written_in_batches(database) -> None:
    writer = EventWriter(database, batch_rows=7, flush_seconds=0.05)
    for position in range(1, 21):
        assert writer.add([row(position)])
    assert writer.flush()
    assert [s.position for s in position_stats(database, datetime(2000, 1, 1, tzinfo=UTC))] == list(range(1, 21))
    writer.close()


def test_a_failed_batch_is_kept_and_written_once_the_database_works(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'later.db'}")  # no tables yet: every insert fails
    writer = EventWriter(database, flush_seconds=0.01, retry_seconds=0.05)
    assert writer.add([row(1), row(2)])
    assert not writer.flush(timeout_seconds=0.3)
    database.upgrade()
    assert writer.flush(timeout_seconds=5)
    assert [s.position for s in position_stats(database, datetime(2000, 1, 1, tzinfo=UTC))] == [1, 2]
    writer.close()


def test_a_full_queue_drops_instead_of_growing(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'never.db'}")
    writer = EventWriter(database, max_queued_rows=3, flush_seconds=10, retry_seconds=10)
    assert writer.add([row(1), row(2), row(3)])
    assert not writer.add([row(4)])
    writer.close(timeout_seconds=0.1)


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

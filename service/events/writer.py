"""`EventWriter`: reader events are appended to the database in batches by a thread of their own, and an
event acknowledged with 204 is never lost to a database outage or a graceful stop.

A request only validates its event and queues the rows (microseconds), so a slow or locked database
never slows `POST /v1/events`, let alone the related path. The thread writes whatever is queued every
`flush_seconds` (sooner once `batch_rows` are waiting) in one transaction: one commit per interval,
however many events arrive. The interval is short (50 ms), so a batch is a small burst of CPU: with
0.5 s, GET related's p99 beside 1,000 events/s was 8.8 ms against 3.6 ms beside as many more GETs (see
docs/performance.md), and fewer events wait in memory if the process is killed.

When a write fails, the writer turns *degraded*: the batch, and every batch after it, goes to the local
spool (`service.events.spool`, fsync'd per batch) instead, and every `retry_seconds` the spool is replayed
into the database; once that succeeds the writer is healthy again. At start (and every
`ORPHAN_CHECK_SECONDS`) it also replays spool files left by processes that have exited, so events
spooled before a restart reach the database after it. `close()` (run at exit, SIGTERM's graceful stop
included) stops the thread, waits for it, and spools whatever the database did not take. Only a SIGKILL
loses events: those queued in memory, at most one `flush_seconds` interval's worth (measured in
tests/service/test_event_durability.py). Rows refused because the queue or the spool is full are counted
(`relatedly_events_total{result="dropped"}`) and logged; `status()` feeds `/readyz` and the backlog gauge.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from service.events.spool import EventSpool
from service.pipeline import metrics
from service.server.exit import at_exit
from storage import Database
from storage.events import EventRow, append_events

log = logging.getLogger("relatedly.events")

ORPHAN_CHECK_SECONDS = 30.0
DROP_LOG_SECONDS = 1.0  # at most one `events_dropped` line a second (a flood must not flood the log)


class EventWriter:
    """A bounded queue of event rows, the thread that appends them to the database, and the spool it
    falls back on."""

    def __init__(self, database: Database, spool: EventSpool, *, batch_rows: int = 2000,
                 flush_seconds: float = 0.05, max_queued_rows: int = 100_000, retry_seconds: float = 2.0,
                 close_timeout_seconds: float = 15.0) -> None:
        self.database, self.spool = database, spool
        self.batch_rows, self.flush_seconds = batch_rows, flush_seconds
        self.max_queued_rows, self.retry_seconds = max_queued_rows, retry_seconds
        self.close_timeout_seconds = close_timeout_seconds
        self.last_error: str | None = None
        self._rows: deque[EventRow] = deque()
        self._in_flight = 0
        self._changed = threading.Condition()
        self._spool_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._flushing = False
        self._degraded = False
        self._next_replay = 0.0
        self._dropped_unlogged = 0
        self._last_drop_log = 0.0

    def add(self, rows: Sequence[EventRow]) -> bool:
        """Queue one event's rows; False (and nothing queued) when the queue is full."""
        with self._changed:
            if len(self._rows) + self._in_flight + len(rows) > self.max_queued_rows:
                self._dropped(len(rows), "queue_full")
                return False
            self._rows.extend(rows)
            self._ensure_thread()
            if len(self._rows) >= self.batch_rows:
                self._changed.notify_all()
        return True

    def start_if_spooled(self) -> None:
        """Start the thread now when spooled events wait (a restart after an outage), so they are written
        without waiting for the first new event."""
        if self.spool.has_files():
            with self._changed:
                self._ensure_thread()

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Make everything queued now durable (in the database, or the spool while it is unreachable);
        True when the queue emptied in time (tests, shutdown)."""
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            self._flushing = True
            self._changed.notify_all()
            try:
                while self._rows or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                        return False
                    self._changed.wait(min(remaining, 0.05))
            finally:
                self._flushing = False
        return True

    def status(self) -> dict[str, Any]:
        """The event store's state for `/readyz`: `ok`, or `degraded` while writes fail, and the backlog."""
        with self._changed:
            queued = len(self._rows) + self._in_flight
        return {"state": "degraded" if self._degraded else "ok", "queued_rows": queued,
                "spooled_rows": self.spool.rows, "last_error": self.last_error}

    def close(self) -> None:
        """Stop the thread and wait for it: what the database does not take is spooled (at exit)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(self.close_timeout_seconds)
            if thread.is_alive():  # stuck in a database call: keep what is still queued
                with self._changed:
                    rows = list(self._rows)
                    self._rows.clear()
                log.warning("events_writer_stuck_at_exit", extra={"fields": {
                    "in_flight_rows": self._in_flight, "spooling_rows": len(rows)}})
                self._spool(rows, wait_seconds=1.0)
        if self._spool_lock.acquire(timeout=1.0):
            try:
                self.spool.close()
            finally:
                self._spool_lock.release()
        if self._dropped_unlogged:
            log.error("events_dropped", extra={"fields": {"rows": self._dropped_unlogged, "reason": "at_exit"}})
            self._dropped_unlogged = 0

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid, self._stopping = os.getpid(), False
        self._thread = threading.Thread(target=self._run, name="relatedly-events", daemon=True)
        self._thread.start()
        at_exit(self.close)

    def _run(self) -> None:
        self._replay()  # events spooled before this process started (an outage, a restart)
        next_orphan_check = time.monotonic() + ORPHAN_CHECK_SECONDS
        while True:
            with self._changed:  # one transaction per flush_seconds at most: a commit is the costly part
                self._changed.wait_for(lambda: self._stopping or (self._flushing and self._rows)
                                       or len(self._rows) >= self.batch_rows,
                                       self.flush_seconds)
                stopping = self._stopping
                batch = [self._rows.popleft() for _ in range(min(len(self._rows), self.batch_rows))]
                self._in_flight = len(batch)
            if batch:
                self._store(batch)
            now = time.monotonic()
            due = self._next_replay if self._degraded else next_orphan_check
            if not stopping and now >= due:
                self._replay()
                next_orphan_check = now + ORPHAN_CHECK_SECONDS
            with self._changed:
                self._in_flight = 0
                self._changed.notify_all()
                backlog = len(self._rows) + self.spool.rows
                done = stopping and not self._rows
            metrics.EVENTS_BACKLOG.set(backlog)
            if done:
                return

    def _store(self, batch: list[EventRow]) -> None:
        """Write a batch to the database, or spool it while the database is failing."""
        if not self._degraded:
            try:
                append_events(self.database, batch)
            except SQLAlchemyError as exc:
                self._failed(exc, len(batch))
            else:
                metrics.EVENTS.labels(result="written").inc(len(batch))
                return
        self._spool(batch)

    def _spool(self, rows: list[EventRow], wait_seconds: float = -1) -> None:
        if not rows:
            return
        if not self._spool_lock.acquire(timeout=wait_seconds):
            self._dropped(len(rows), "spool_busy")
            return
        try:
            taken = self.spool.append(rows)
        except OSError as exc:
            taken = 0
            log.error("events_spool_failed", extra={"fields": {"rows": len(rows), "error": str(exc)}})
        finally:
            self._spool_lock.release()
        metrics.EVENTS.labels(result="spooled").inc(taken)
        if taken < len(rows):
            self._dropped(len(rows) - taken, "spool_full")

    def _replay(self) -> None:
        """Write spooled rows to the database; healthy again once every file this process can take is written."""
        with self._spool_lock:
            try:
                written = self.spool.replay(self._write_replayed, self.batch_rows)
            except SQLAlchemyError as exc:
                self._failed(exc, 0)
                return
            except OSError as exc:
                log.error("events_spool_failed", extra={"fields": {"error": str(exc)}})
                return
            finally:
                if self.spool.unreadable_rows:
                    self._dropped(self.spool.unreadable_rows, "spool_unreadable")
                    self.spool.unreadable_rows = 0
        if written or self._degraded:
            log.info("events_replayed", extra={"fields": {"rows": written, "spooled_rows": self.spool.rows}})
        self._degraded, self.last_error = False, None

    def _write_replayed(self, rows: list[EventRow]) -> None:
        append_events(self.database, rows)
        metrics.EVENTS.labels(result="written").inc(len(rows))

    def _failed(self, exc: SQLAlchemyError, rows: int) -> None:
        error = f"{type(exc).__name__}: {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}"[:300]
        metrics.EVENTS.labels(result="failed").inc(rows)
        if not self._degraded or error != self.last_error:
            log.warning("events_write_failed", extra={"fields": {
                "rows": rows, "error": error, "spooling": True, "retry_in_s": self.retry_seconds}})
        self._degraded, self.last_error = True, error
        self._next_replay = time.monotonic() + self.retry_seconds

    def _dropped(self, rows: int, reason: str) -> None:
        """Count and log rows that are lost (queue or spool full); one log line a second at most."""
        metrics.EVENTS.labels(result="dropped").inc(rows)
        self._dropped_unlogged += rows
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_SECONDS:
            log.error("events_dropped", extra={"fields": {"rows": self._dropped_unlogged, "reason": reason}})
            self._dropped_unlogged, self._last_drop_log = 0, now

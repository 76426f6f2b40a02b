"""`EventWriter`: reader events are appended to the database in batches by a thread of their own.

A request only validates its event and queues the rows (microseconds), so a slow or locked database
never slows `POST /v1/events`, let alone the related path. The thread writes whatever is queued every
`flush_seconds` (sooner once `batch_rows` are waiting) in one transaction: one commit per interval,
however many events arrive. The interval is short (50 ms), so a batch is a small burst of CPU: with
0.5 s, GET related's p99 beside 1,000 events/s was 8.8 ms against 3.6 ms beside as many more GETs (see
docs/performance.md), and fewer events wait in memory if the process dies. If the database fails, the
batch goes back to the front of the queue and is tried again after a pause; the queue is bounded, and
rows beyond it are dropped and counted rather than let the process grow without end. The thread is
started on first use, so each server worker (forked before it builds the app) gets its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from service.pipeline import metrics
from service.server.exit import at_exit
from storage import Database
from storage.events import EventRow, append_events

log = logging.getLogger("relatedly.events")


class EventWriter:
    """A bounded queue of event rows and the thread that appends them to the database."""

    def __init__(self, database: Database, *, batch_rows: int = 2000, flush_seconds: float = 0.05,
                 max_queued_rows: int = 100_000, retry_seconds: float = 2.0) -> None:
        self.database = database
        self.batch_rows, self.flush_seconds = batch_rows, flush_seconds
        self.max_queued_rows, self.retry_seconds = max_queued_rows, retry_seconds
        self._rows: deque[EventRow] = deque()
        self._in_flight = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._flushing = False

    def add(self, rows: Sequence[EventRow]) -> bool:
        """Queue one event's rows; False (and nothing queued) when the queue is full."""
        with self._changed:
            if len(self._rows) + self._in_flight + len(rows) > self.max_queued_rows:
                metrics.EVENTS.labels(result="dropped").inc()
                return False
            self._rows.extend(rows)
            self._ensure_thread()
            if len(self._rows) >= self.batch_rows:
                self._changed.notify_all()
        return True

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Write everything queued now; True when the queue emptied in time (tests, shutdown)."""
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

    def close(self, timeout_seconds: float = 5.0) -> None:
        """Flush, then stop the thread (at exit); rows the database would not take by then are lost, and logged."""
        self.flush(timeout_seconds)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid, self._stopping = os.getpid(), False
        self._thread = threading.Thread(target=self._run, name="relatedly-events", daemon=True)
        self._thread.start()
        at_exit(self.close)

    def _run(self) -> None:
        while True:
            with self._changed:  # one transaction per flush_seconds at most: a commit is the costly part
                self._changed.wait_for(lambda: self._stopping or (self._flushing and self._rows)
                                       or len(self._rows) >= self.batch_rows,
                                       self.flush_seconds)
                if self._stopping:  # close() has flushed what it could
                    if self._rows:
                        log.warning("events_dropped_at_exit", extra={"fields": {"rows": len(self._rows)}})
                    return
                batch = [self._rows.popleft() for _ in range(min(len(self._rows), self.batch_rows))]
                self._in_flight = len(batch)
            if batch and not self._write(batch):
                with self._changed:  # a pause before trying again, which close() cuts short
                    self._changed.wait_for(lambda: self._stopping, self.retry_seconds)
            with self._changed:
                self._in_flight = 0
                self._changed.notify_all()

    def _write(self, batch: list[EventRow]) -> bool:
        try:
            append_events(self.database, batch)
        except SQLAlchemyError as exc:
            metrics.EVENTS.labels(result="failed").inc(len(batch))
            log.warning("events_write_failed", extra={"fields": {
                "rows": len(batch), "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                "retry_in_s": self.retry_seconds}})
            with self._changed:
                room = self.max_queued_rows - len(self._rows)
                self._rows.extendleft(reversed(batch[:room]))  # try again; what does not fit is lost
            return False
        metrics.EVENTS.labels(result="written").inc(len(batch))
        return True

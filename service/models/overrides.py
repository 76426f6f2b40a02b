"""The editorial overrides this process serves: an in-memory snapshot, kept current without a query per request.

Writers (the admin API, the editor page, the `relatedly pin/block/exclude` commands) commit to the
database, then ring a doorbell: they write the new revision into a small file beside the models that
every process has memory-mapped. Each request compares those 8 bytes with the last ones it saw (a
fraction of a microsecond, no system call) and only when they changed reads the revision from the
database and, if new, the overrides — so the next request in every worker on this host sees it. Processes
on other hosts (PostgreSQL shared, models directory not) learn of it from a Redis announcement when
Redis is configured, and otherwise from a revision poll every `reload_seconds`. A database failure
keeps the last snapshot serving and is shown in `/readyz`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from recommender.overrides import Overrides, build_overrides
from service.models.announcements import ModelEventListener
from storage.database import Database
from storage.overrides import (
    OVERRIDES_CHANNEL,
    REVISION_BYTES,
    announce_overrides,
    map_revision_file,
    read_overrides,
    read_revision,
    ring_doorbell,
)

log = logging.getLogger("relatedly.overrides")


class OverrideStore:
    """The current overrides snapshot of one process."""

    def __init__(self, database: Database, models_dir: str | Path, poll_seconds: float = 1.0) -> None:
        self.database = database
        self.models_dir = Path(models_dir)
        self._doorbell = map_revision_file(self.models_dir)
        self.poll_seconds = poll_seconds
        self.last_error: str | None = None
        self._snapshot = Overrides(revision=-1)  # nothing read yet: the first refresh loads
        self._rung: bytes | None = None  # the doorbell's bytes at the last look; None: the first call loads
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._listener: ModelEventListener | None = None
        self._redis_url: str | None = None

    def current(self) -> Overrides:
        """The snapshot for this request; reloads first when the doorbell rang since the last look."""
        rung = self._doorbell[:REVISION_BYTES] if self._doorbell is not None else b""
        if rung != self._rung:
            self._rung = rung
            self.refresh()
        return self._snapshot

    def refresh(self) -> bool:
        """Load the overrides if the stored revision differs from the served one; True when it did."""
        with self._lock:
            try:
                if read_revision(self.database) == self._snapshot.revision:
                    return False
                rows = read_overrides(self.database)
            except SQLAlchemyError as exc:
                message = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                if message != self.last_error:
                    log.warning("overrides_load_failed", extra={"fields": {
                        "keeping_revision": self._snapshot.revision, "reason": message}})
                self.last_error = message
                return False
            previous = self._snapshot.revision
            self._snapshot = build_overrides(rows.revision, rows.pins, rows.blocks, rows.exclusions.keys())
            self.last_error = None
            log.info("overrides_loaded", extra={"fields": {
                "revision": rows.revision, "previous": previous, "pins": len(rows.pins), "blocks": len(rows.blocks),
                "exclusions": len(rows.exclusions)}})
            return True

    def changed(self, revision: int) -> None:
        """After a change committed by this process: ring the doorbell, reload, tell other hosts."""
        ring_doorbell(self.models_dir)
        self.refresh()
        announce_overrides(self._redis_url, revision)

    def start_watching(self, redis_url: str | None = None) -> None:
        """Poll the revision every `poll_seconds`; with Redis, also reload at once on an announcement."""
        self._redis_url = redis_url
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="overrides-poller", daemon=True)
            self._poller.start()
        if redis_url and self._listener is None:
            self._listener = ModelEventListener(redis_url, self.refresh, channel=OVERRIDES_CHANNEL)
            self._listener.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any surprise; the last snapshot keeps serving
                log.exception("overrides_poll_crashed")

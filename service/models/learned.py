"""The lists `relatedly learn` published, applied to the served model's default responses.

`relatedly learn` writes `learned/<version>.json` and rings the `learned.revision` doorbell beside the
models (`publishing.learned`). A poller looks at the doorbell's 8 bytes every `poll_seconds` (and a
model load applies the file of the version it loads), reads the file of the served version and has
`DefaultResponses.apply_learned` re-render the articles it names: no new model version, no restart.
A damaged file keeps the lists already served and shows in `/readyz`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from publishing.learned import DOORBELL_FILE, read_learned
from service.api.default_lists import DefaultResponses
from service.models.store import ModelStore
from service.pipeline import metrics
from storage.overrides import REVISION_BYTES, map_revision_file

log = logging.getLogger("relatedly.learned")


class LearnedListStore:
    """Follows the learned-lists doorbell for one process."""

    def __init__(self, models_dir: str | Path, poll_seconds: float = 1.0) -> None:
        self.models_dir = Path(models_dir)
        self.poll_seconds = poll_seconds
        self.last_error: str | None = None
        self.stats: dict[str, Any] = {}
        self._doorbell = map_revision_file(self.models_dir, DOORBELL_FILE)
        self._seen: tuple[str, bytes] | None = None  # (served version, doorbell bytes) last applied
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def apply(self, version: str, defaults: DefaultResponses) -> None:
        """Serve the learned lists stored for `version`, if any (the model's lists when there are none)."""
        with self._lock:
            rung = self._rung()
            try:
                learned = read_learned(self.models_dir, version)
                if learned is None and defaults.learned is None:
                    self._seen = (version, rung)
                    return
                rendered = defaults.apply_learned(learned)
            except (OSError, ValueError) as exc:
                message = f"{type(exc).__name__}: {exc}"
                if message != self.last_error:
                    log.warning("learned_lists_failed", extra={"fields": {"version": version, "reason": message}})
                self.last_error = message
                self._seen = (version, rung)
                return
            self._seen = (version, rung)
            self.last_error = None
            self.stats = dict(learned.stats) if learned is not None else {}
            changed = len(learned.lists) if learned is not None else 0
            metrics.learned_lists_applied(changed, self.stats)
            log.info("learned_lists_applied", extra={"fields": {
                "version": version, "lists": changed, "rendered": rendered,
                "computed_at": self.stats.get("computed_at")}})

    def refresh(self, store: ModelStore) -> bool:
        """Apply the served version's learned lists when the doorbell rang or the version changed."""
        loaded = store.current()
        if loaded is None or not isinstance(loaded.defaults, DefaultResponses):
            return False
        if self._seen == (loaded.version, self._rung()):
            return False
        self.apply(loaded.version, loaded.defaults)
        return True

    def state(self) -> dict[str, Any]:
        """Learning's state for `/readyz`: the last applied run and any error."""
        return {
            "computed_at": self.stats.get("computed_at"),
            "lists_changed": self.stats.get("changed", 0),
            "covered_lists": self.stats.get("covered", 0),
            "articles": self.stats.get("articles", 0),
            "error": self.last_error,
        }

    def start_watching(self, store: ModelStore) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, args=(store,), name="learned-poller", daemon=True)
            self._poller.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None

    def _rung(self) -> bytes:
        return self._doorbell[:REVISION_BYTES] if self._doorbell is not None else b""

    def _poll(self, store: ModelStore) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh(store)
            except Exception:  # the poller must outlive any surprise; the lists already served stay
                log.exception("learned_poll_crashed")

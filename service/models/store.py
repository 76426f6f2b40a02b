"""Holds the served model and swaps in newly published ones without a restart.

A watcher thread checks the `CURRENT` pointer; a new version is loaded, verified and smoke-tested
off the request path, then swapped in with one reference assignment. A request reads `current()`
once, so it sees the old model or the new one, never a mix. A failed load keeps the last good model
and is reported by `/readyz`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recommender import artifacts
from recommender.default_lists import DefaultLists
from recommender.errors import RelatedlyError
from recommender.model import RelatedModel
from recommender.ranking import RankingOptions
from service.models.announcements import ModelEventListener
from service.pipeline import metrics

log = logging.getLogger("relatedly.model_store")
LOAD_SWITCH_INTERVAL_SECONDS = 0.001  # the GIL switch interval while a version loads (`_short_gil_slices`)


@dataclass(frozen=True)
class LoadedModel:
    """A model with the version it was published as; immutable, shared by concurrent requests."""

    version: str
    model: RelatedModel
    manifest: dict[str, Any]
    loaded_at: float
    defaults: Any = None  # every article's default-option list, rendered by `prepare` (service/api/default_lists.py)

    @property
    def created_at(self) -> float:
        """When the model was trained (epoch seconds), from its manifest."""
        return datetime.fromisoformat(self.manifest["created_at"].replace("Z", "+00:00")).timestamp()


# What the service makes of a version before serving it: (version, model, its stored default lists or None).
Prepare = Callable[[str, RelatedModel, DefaultLists | None], Any]


class ModelStore:
    """The current model of a models directory."""

    def __init__(self, models_dir: str | Path, reload_seconds: float = 1.0, prepare: Prepare | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.reload_seconds = reload_seconds
        self.prepare = prepare
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()  # one load at a time; readers never take it
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._listener: ModelEventListener | None = None
        self.last_error: str | None = None

    def current(self) -> LoadedModel | None:
        """The model to answer this request with (None until one is loaded)."""
        return self._current

    def refresh(self) -> bool:
        """Load the published version if it differs from the served one; True when a swap happened."""
        with self._lock:
            version = None
            try:
                version = artifacts.read_current(self.models_dir)
                if version is None:
                    self._fail_soft("no model published yet (no CURRENT pointer)")
                    return False
                if self._current is not None and self._current.version == version:
                    return False
                if self.last_error and self.last_error.startswith(f"model {version}:"):
                    return False  # already failed on this version; wait for a new pointer
                started = time.perf_counter()
                with _collector_paused(), _short_gil_slices():
                    model, manifest = artifacts.load_version(self.models_dir, version)
                    stored_lists = artifacts.load_default_lists(self.models_dir, manifest)
                    _smoke_test(model)
                    defaults = self.prepare(version, model, stored_lists) if self.prepare else None
            except Exception as exc:  # any failure keeps the last good model serving
                reason = str(exc) if isinstance(exc, RelatedlyError) else f"{type(exc).__name__}: {exc}"
                metrics.RELOADS.labels(result="failure").inc()
                self._fail_soft(f"model {version}: {reason}" if version else reason)
                return False
            previous = self._current.version if self._current else None
            loaded = LoadedModel(version, model, manifest, time.time(), defaults)
            self._current = loaded
            self.last_error = None
            metrics.RELOADS.labels(result="success").inc()
            metrics.model_swapped(previous, version, model.n_articles, loaded.created_at)
            log.info("model_loaded", extra={"fields": {
                "version": version, "previous": previous, "n_articles": model.n_articles,
                "load_ms": round((time.perf_counter() - started) * 1000, 1)}})
            return True

    def start_watching(self, redis_url: str | None = None) -> None:
        """Poll `CURRENT` every `reload_seconds`; with Redis, also reload at once on a publish announcement."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
            self._watcher.start()
        if redis_url and self._listener is None:
            self._listener = ModelEventListener(redis_url, self.refresh)
            self._listener.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_seconds):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any surprise; the old model keeps serving
                log.exception("model_reload_crashed")

    def _fail_soft(self, message: str) -> None:
        if message != self.last_error:
            log.warning("model_load_failed", extra={"fields": {
                "keeping": self._current.version if self._current else None, "reason": message}})
        self.last_error = message


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off a model load, then out of the loaded objects.

    A full collection walks every object of a loaded model (about 200 ms for 20k articles) holding the
    GIL, so the requests the worker answers meanwhile wait; loading allocates enough to start one. So
    the collector stays off while a version loads; then one young-generation pass (about 10 ms: only
    what the load made) frees the load's own cycles (numpy's header parser leaves some), and what is
    left is frozen (`gc.freeze`), out of every later collection. A model lives until the next swap and
    is then freed by reference counting, which freezing does not stop.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def _short_gil_slices() -> Iterator[None]:
    """Hand the GIL to the request threads more often while a version loads.

    The load runs in a background thread of a worker that keeps answering; with CPython's default 5 ms
    switch interval every request that needs the GIL meanwhile may wait up to 5 ms for it, several times.
    A 1 ms interval for the load's duration bounds that wait (the p99 in the seconds after a publish under
    load: docs/performance.md); the default comes back afterwards, as it costs a little throughput.
    """
    default = sys.getswitchinterval()
    sys.setswitchinterval(LOAD_SWITCH_INTERVAL_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(default)


def _smoke_test(model: RelatedModel) -> None:
    """A loaded model must answer for its first article, and for a text, before it may serve.

    The text query also compiles (or loads from numba's cache) the scatter kernel it uses, so the
    first real text query does not pay for it.
    """
    first = model.article(model.catalog_.id_at(0))
    model.related(first.id, RankingOptions(limit=1))
    model.related_to_text(first.title, "", first.tags, RankingOptions(limit=1))

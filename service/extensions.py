"""The service's shared parts (settings, model store, cache), bound to the app with `init_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from service.cache import ResponseCache, build_cache
from service.config import Settings
from service.model_store import ModelStore


@dataclass(frozen=True)
class Relatedly:
    settings: Settings
    store: ModelStore
    cache: ResponseCache


def init_app(app: Flask, settings: Settings, *, watch: bool = True) -> Relatedly:
    """Load the published model before serving and start following `CURRENT`."""
    store = ModelStore(settings.models_dir, settings.reload_seconds)
    store.refresh()
    if watch:
        store.start_watching(settings.redis_url)
    cache = build_cache(
        settings.redis_url,
        timeout_ms=settings.cache_timeout_ms,
        retry_seconds=settings.cache_retry_seconds,
        memory_entries=settings.memory_cache_size,
        prefix=settings.cache_prefix,
    )
    parts = Relatedly(settings, store, cache)
    app.extensions["relatedly"] = parts
    return parts


def relatedly() -> Relatedly:
    """The parts of the app handling the current request."""
    return current_app.extensions["relatedly"]

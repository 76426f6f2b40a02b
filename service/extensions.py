"""The service's shared parts (settings, model store, cache, database), bound to the app with `init_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from service.cache import ResponseCache, build_cache
from service.config import Settings
from service.model_store import ModelStore
from storage import Database


@dataclass(frozen=True)
class Relatedly:
    settings: Settings
    store: ModelStore
    cache: ResponseCache
    database: Database


def init_app(app: Flask, settings: Settings, *, watch: bool = True) -> Relatedly:
    """Load the published model before serving, start following `CURRENT`, bring the database schema up to date."""
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
    database = Database.from_url(settings.resolved_database_url)
    database.upgrade()
    parts = Relatedly(settings, store, cache, database)
    app.extensions["relatedly"] = parts
    return parts


def relatedly() -> Relatedly:
    """The parts of the app handling the current request."""
    return current_app.extensions["relatedly"]

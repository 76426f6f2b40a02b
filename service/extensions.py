"""The service's shared parts (settings, model store, cache, database), bound to the app with `init_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from service.api.cache import ResponseCache, build_cache
from service.config import Settings
from service.models.overrides import OverrideStore
from service.models.store import ModelStore, Prepare
from storage import Database


@dataclass(frozen=True)
class Relatedly:
    settings: Settings
    store: ModelStore
    cache: ResponseCache
    database: Database
    overrides: OverrideStore


def init_app(app: Flask, settings: Settings, *, watch: bool = True, prepare: Prepare | None = None) -> Relatedly:
    """Load the published model before serving, start following `CURRENT`, bring the database schema up to date.

    `prepare` runs on every version before it is served (the store keeps what it returns as `defaults`).
    """
    store = ModelStore(settings.models_dir, settings.reload_seconds, prepare)
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
    overrides = OverrideStore(database, settings.models_dir, settings.reload_seconds)
    overrides.refresh()
    if watch:
        overrides.start_watching(settings.redis_url)
    parts = Relatedly(settings, store, cache, database, overrides)
    app.extensions["relatedly"] = parts
    return parts


def relatedly() -> Relatedly:
    """The parts of the app handling the current request."""
    return current_app.extensions["relatedly"]

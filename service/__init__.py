"""Relatedly's HTTP service: `create_app()` builds the Flask app from `Settings` (default: the environment)."""

from __future__ import annotations

from flask import Flask

from service import admin, admin_overrides, api, editor, events, health, openapi, pages
from service.config import Settings
from service.cors import register_cors
from service.errors import register_errorhandlers
from service.events_fastpath import register_events_fast_path
from service.extensions import init_app
from service.fastpath import register_fast_path, set_default_list_bypass
from service.logs import configure_logger
from service.observability import register_request_hooks
from service.overrides import DefaultListBypass


def create_app(settings: Settings | None = None, *, watch: bool = True) -> Flask:
    """Build the app; `watch=False` leaves model reloads to explicit `store.refresh()` calls (tests)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json.sort_keys = False
    app.url_map.merge_slashes = False  # article ids may contain "//"; never redirect them
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    configure_logger(settings.log_level)
    init_app(app, settings, watch=watch)
    events.register_events(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_cors(app)
    register_events_fast_path(app)
    register_fast_path(app)
    parts = app.extensions["relatedly"]
    set_default_list_bypass(app, DefaultListBypass(parts.store, parts.overrides))
    return app


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_overrides.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(events.bp)

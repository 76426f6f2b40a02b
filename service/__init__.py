"""Relatedly's HTTP service: `create_app()` builds the Flask app from `Settings` (default: the environment)."""

from __future__ import annotations

from flask import Flask

from recommender.default_lists import DefaultLists, article_lists
from recommender.model import RelatedModel
from service.api import admin, admin_overrides, health, openapi
from service.api import routes as api
from service.api.default_lists import DefaultResponses, register_default_list_path, render_defaults
from service.config import Settings
from service.events import routes as events
from service.extensions import init_app
from service.models.learned import LearnedListStore
from service.models.store import Prepare
from service.pages import editor
from service.pages import fragment as pages
from service.pipeline.cors import register_cors
from service.pipeline.errors import register_errorhandlers
from service.pipeline.logs import configure_logger
from service.pipeline.observability import register_request_hooks
from service.pipeline.request_input import register_request_input


def create_app(settings: Settings | None = None, *, watch: bool = True) -> Flask:
    """Build the app; `watch=False` leaves model reloads to explicit `store.refresh()` calls (tests)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    register_request_input(app)
    app.url_map.merge_slashes = False  # article ids may contain "//"; never redirect them
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    configure_logger(settings.log_level)
    learned = LearnedListStore(settings.models_dir, settings.reload_seconds)
    parts = init_app(app, settings, watch=watch, prepare=_default_responses(settings, learned))
    app.extensions["relatedly_learned"] = learned
    if watch:
        learned.start_watching(parts.store)
    events.register_events(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_cors(app)
    register_default_list_path(app)
    return app


def _default_responses(settings: Settings, learned: LearnedListStore) -> Prepare:
    """Render every article's default list when a version loads (off the request path, before the swap),
    with the lists `relatedly learn` published for that version."""

    def prepare(version: str, model: RelatedModel, stored: DefaultLists | None) -> DefaultResponses:
        defaults = render_defaults(version, article_lists(model, stored, settings.default_limit))
        learned.apply(version, defaults)
        return defaults

    return prepare


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_overrides.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(events.bp)

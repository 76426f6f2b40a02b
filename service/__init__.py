"""Relatedly's HTTP service: `create_app()` builds the Flask app from `Settings` (default: the environment)."""

from __future__ import annotations

import logging
import sys

from flask import Flask

from service import api, health
from service.config import Settings
from service.errors import register_errorhandlers
from service.extensions import init_app


def create_app(settings: Settings | None = None, *, watch: bool = True) -> Flask:
    """Build the app; `watch=False` leaves model reloads to explicit `store.refresh()` calls (tests)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json.sort_keys = False
    configure_logger(settings.log_level)
    init_app(app, settings, watch=watch)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)


def configure_logger(level: str) -> None:
    """`event key=value` lines on stdout, where container platforms collect them."""
    root = logging.getLogger("relatedly")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)

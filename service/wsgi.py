"""WSGI entry point for gunicorn: `service.wsgi:app`, configured from the environment."""

from service import create_app

app = create_app()

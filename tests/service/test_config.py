"""Settings come from the environment and bad ones fail at start-up, all listed at once."""

from __future__ import annotations

import pytest

from service.config import ConfigError, Settings


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert (settings.models_dir, settings.redis_url, settings.port, settings.cache_ttl_seconds) == (
        "models", None, 8000, 300,
    )


def test_values_from_environment() -> None:
    settings = Settings.from_env(
        {"RELATEDLY_MODELS_DIR": "/srv/models", "RELATEDLY_REDIS_URL": "redis://cache:6379/1",
         "RELATEDLY_CACHE_TTL": "60", "PORT": "9000", "WEB_CONCURRENCY": "4", "RELATEDLY_LOG_LEVEL": "debug"}
    )
    assert settings.models_dir == "/srv/models"
    assert settings.redis_url == "redis://cache:6379/1"
    assert (settings.cache_ttl_seconds, settings.port, settings.workers, settings.log_level) == (60, 9000, 4, "DEBUG")


def test_relatedly_port_is_a_fallback_for_port() -> None:
    assert Settings.from_env({"RELATEDLY_PORT": "8123"}).port == 8123
    assert Settings.from_env({"RELATEDLY_PORT": "8123", "PORT": "8124"}).port == 8124


def test_every_problem_is_listed() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"RELATEDLY_CACHE_TTL": "soon", "PORT": "0", "RELATEDLY_REDIS_URL": "localhost:6379"})
    message = str(error.value)
    assert "RELATEDLY_CACHE_TTL='soon'" in message
    assert "port must be a TCP port" in message
    assert "redis_url" in message


def test_trusted_proxies_default_to_none_and_must_not_be_negative() -> None:
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"RELATEDLY_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(ConfigError, match="trusted_proxies must be >= 0"):
        Settings.from_env({"RELATEDLY_TRUSTED_PROXIES": "-1"})

"""Service settings, read from the environment in exactly one place and validated at start-up.

| variable                     | default       | meaning                                                      |
|------------------------------|---------------|--------------------------------------------------------------|
| RELATEDLY_MODELS_DIR         | ./models      | where `relatedly train` publishes versions and `CURRENT`      |
| RELATEDLY_REDIS_URL          | (unset)       | redis://host:port/db; unset = in-process cache               |
| RELATEDLY_DATABASE_URL       | (unset)       | sqlite:///file or postgresql://…; unset = relatedly.db beside |
|                              |               | the models directory (events, editorial overrides)           |
| RELATEDLY_CACHE_TTL          | 300           | seconds a cached response lives                              |
| RELATEDLY_ADMIN_TOKEN        | (unset)       | enables /v1/admin/* with Authorization: Bearer <token>        |
| RELATEDLY_EDITOR_TOKENS      | (unset)       | named editors of the editor page, "name:token,name:token"     |
|                              |               | (each signs in with their own token; unset = the admin token) |
| RELATEDLY_KEEP_VERSIONS      | 5             | versions kept on disk after an admin update                  |
| RELATEDLY_ADMIN_WAIT_SECONDS | 5             | how long an admin write waits for its job before a 202       |
| RELATEDLY_CACHE_EMPTY_TTL    | 30            | seconds an empty list is cached (it may fill up soon)        |
| RELATEDLY_HTTP_MAX_AGE       | 300           | Cache-Control max-age of successful GETs (for CDNs)          |
| RELATEDLY_MAX_BODY_BYTES     | 1048576       | larger request bodies get 413                                |
| RELATEDLY_CORS_ORIGINS       | (unset)       | comma-separated origins allowed by CORS, or *                |
| RELATEDLY_CACHE_TIMEOUT_MS   | 50            | socket timeout of every Redis call                           |
| RELATEDLY_CACHE_RETRY_SECONDS| 5             | after a Redis failure, skip Redis this long before retrying  |
| RELATEDLY_CACHE_PREFIX       | relatedly     | first part of every cache key (share one Redis safely)       |
| RELATEDLY_MEMORY_CACHE_SIZE  | 10000         | entries of the in-process cache                              |
| RELATEDLY_RELOAD_SECONDS     | 1.0           | how often the `CURRENT` pointer is checked for a new model   |
| RELATEDLY_DEFAULT_LIMIT      | 10            | related stories returned when `limit` is not given           |
| RELATEDLY_EVENTS_PER_MINUTE | 60            | POST /v1/events per client address and minute (0 = no limit) |
| RELATEDLY_EVENTS_SPOOL_DIR   | (unset)       | where acknowledged events wait while the database is down;  |
|                              |               | unset = events-spool/ beside the models directory            |
| RELATEDLY_EVENTS_SPOOL_MAX_BYTES | 268435456 | bound of the spool; rows beyond it are dropped and counted   |
| RELATEDLY_TRUSTED_PROXIES    | 0             | reverse proxies in front whose X-Forwarded-For is believed    |
|                              |               | (the client address of the rate limits)                      |
| RELATEDLY_EXPLORE_SHARE      | 0             | share of list views whose last slot shows a story from       |
|                              |               | further down the candidate pool (0 to 0.5; e.g. 0.05)        |
| RELATEDLY_EXPERIMENT         | (unset)       | `learning`: split list views by article and day between the  |
|                              |               | learned lists (arm `learned`) and the model's (arm `model`)   |
| RELATEDLY_LOG_LEVEL          | INFO          | DEBUG, INFO, WARNING, ERROR                                  |
| PORT (or RELATEDLY_PORT)     | 8000          | port `relatedly serve` binds on                              |
| RELATEDLY_HOST               | 127.0.0.1     | address `relatedly serve` binds on                           |
| WEB_CONCURRENCY              | 2             | server (granian) worker processes                            |
| RELATEDLY_THREADS            | 4             | threads per worker for requests other than GET (writes)      |
| RELATEDLY_BODY_TIMEOUT       | 10            | seconds a client has to send a request body (then 408)       |

The limits on hostile or oversized input (decompressed bytes, line and field length, nesting depth, items
per request, the article id rule) are constants in `recommender/limits.py`, listed in the README.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import default_database_url


class ConfigError(ValueError):
    """Invalid settings: lists every problem so they can all be fixed at once."""


@dataclass(frozen=True)
class Settings:
    models_dir: str = "models"
    redis_url: str | None = None
    database_url: str | None = None
    cache_ttl_seconds: int = 300
    admin_token: str | None = None
    editor_tokens: tuple[tuple[str, str], ...] = ()  # (name, token) of each named editor
    keep_versions: int = 5
    admin_wait_seconds: float = 5.0
    cache_empty_ttl_seconds: int = 30
    http_max_age_seconds: int = 300
    max_body_bytes: int = 1_048_576
    cors_origins: tuple[str, ...] = ()
    cache_timeout_ms: int = 50
    cache_retry_seconds: float = 5.0
    cache_prefix: str = "relatedly"
    memory_cache_size: int = 10_000
    reload_seconds: float = 1.0
    default_limit: int = 10
    events_per_minute: int = 60
    events_spool_dir: str | None = None
    events_spool_max_bytes: int = 256 * 1024 * 1024
    trusted_proxies: int = 0
    explore_share: float = 0.0
    experiment: str | None = None
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    body_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {rule}"
            for name, ok, rule in (
                ("cache_ttl_seconds", self.cache_ttl_seconds >= 1, ">= 1"),
                ("keep_versions", self.keep_versions >= 1, ">= 1"),
                ("admin_wait_seconds", self.admin_wait_seconds >= 0, ">= 0"),
                ("cache_empty_ttl_seconds", self.cache_empty_ttl_seconds >= 1, ">= 1"),
                ("http_max_age_seconds", self.http_max_age_seconds >= 0, ">= 0"),
                ("max_body_bytes", self.max_body_bytes >= 1024, ">= 1024"),
                ("cache_timeout_ms", self.cache_timeout_ms >= 1, ">= 1"),
                ("cache_retry_seconds", self.cache_retry_seconds >= 0, ">= 0"),
                ("memory_cache_size", self.memory_cache_size >= 0, ">= 0"),
                ("reload_seconds", self.reload_seconds > 0, "> 0"),
                ("default_limit", self.default_limit >= 1, ">= 1"),
                ("events_per_minute", self.events_per_minute >= 0, ">= 0"),
                ("events_spool_max_bytes", self.events_spool_max_bytes >= 1024, ">= 1024"),
                ("trusted_proxies", self.trusted_proxies >= 0, ">= 0"),
                ("explore_share", 0.0 <= self.explore_share <= 0.5, "between 0 and 0.5"),
                ("experiment", self.experiment in (None, "learning"), "unset or 'learning'"),
                ("log_level", self.log_level in ("DEBUG", "INFO", "WARNING", "ERROR"), "a log level"),
                ("port", 1 <= self.port <= 65535, "a TCP port"),
                ("workers", self.workers >= 1, ">= 1"),
                ("threads", self.threads >= 1, ">= 1"),
                ("body_timeout_seconds", self.body_timeout_seconds > 0, "> 0"),
            )
            if not ok
        ]
        problems += _editor_problems(self.editor_tokens, self.admin_token)
        if self.admin_token is not None:
            problems += admin_token_problems(self.admin_token)
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            problems.append("redis_url must start with redis://, rediss:// or unix://")
        if self.database_url is not None and not self.database_url.startswith(("sqlite:", "postgresql:", "postgres:")):
            problems.append("database_url must start with sqlite:, postgresql: or postgres:")
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))

    @property
    def resolved_database_url(self) -> str:
        """The configured database, else the SQLite file beside the models directory."""
        return self.database_url or default_database_url(self.models_dir)

    @property
    def resolved_events_spool_dir(self) -> str:
        """The spool of this database's events: a directory per database (keyed by its URL), so events
        spooled for one database are never replayed into another."""
        root = Path(self.events_spool_dir) if self.events_spool_dir else Path(self.models_dir).resolve().parent / \
            "events-spool"
        return str(root / hashlib.sha256(self.resolved_database_url.encode()).hexdigest()[:16])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables; `ConfigError` lists every bad one."""
        env = os.environ if environ is None else environ
        sources = {
            "models_dir": ("RELATEDLY_MODELS_DIR", str),
            "redis_url": ("RELATEDLY_REDIS_URL", str),
            "database_url": ("RELATEDLY_DATABASE_URL", str),
            "cache_ttl_seconds": ("RELATEDLY_CACHE_TTL", int),
            "admin_token": ("RELATEDLY_ADMIN_TOKEN", str),
            "editor_tokens": ("RELATEDLY_EDITOR_TOKENS", _editor_tokens),
            "keep_versions": ("RELATEDLY_KEEP_VERSIONS", int),
            "admin_wait_seconds": ("RELATEDLY_ADMIN_WAIT_SECONDS", float),
            "cache_empty_ttl_seconds": ("RELATEDLY_CACHE_EMPTY_TTL", int),
            "http_max_age_seconds": ("RELATEDLY_HTTP_MAX_AGE", int),
            "max_body_bytes": ("RELATEDLY_MAX_BODY_BYTES", int),
            "cors_origins": ("RELATEDLY_CORS_ORIGINS", _origins),
            "cache_timeout_ms": ("RELATEDLY_CACHE_TIMEOUT_MS", int),
            "cache_retry_seconds": ("RELATEDLY_CACHE_RETRY_SECONDS", float),
            "cache_prefix": ("RELATEDLY_CACHE_PREFIX", str),
            "memory_cache_size": ("RELATEDLY_MEMORY_CACHE_SIZE", int),
            "reload_seconds": ("RELATEDLY_RELOAD_SECONDS", float),
            "default_limit": ("RELATEDLY_DEFAULT_LIMIT", int),
            "events_per_minute": ("RELATEDLY_EVENTS_PER_MINUTE", int),
            "events_spool_dir": ("RELATEDLY_EVENTS_SPOOL_DIR", str),
            "events_spool_max_bytes": ("RELATEDLY_EVENTS_SPOOL_MAX_BYTES", int),
            "trusted_proxies": ("RELATEDLY_TRUSTED_PROXIES", int),
            "explore_share": ("RELATEDLY_EXPLORE_SHARE", float),
            "experiment": ("RELATEDLY_EXPERIMENT", str.lower),
            "log_level": ("RELATEDLY_LOG_LEVEL", str.upper),
            "host": ("RELATEDLY_HOST", str),
            "port": ("PORT", int),
            "workers": ("WEB_CONCURRENCY", int),
            "threads": ("RELATEDLY_THREADS", int),
            "body_timeout_seconds": ("RELATEDLY_BODY_TIMEOUT", float),
        }
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, (variable, convert) in sources.items():
            raw = env.get(variable)
            if name == "port" and not raw:
                raw, variable = env.get("RELATEDLY_PORT"), "RELATEDLY_PORT"
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = convert(raw.strip())
            except ValueError:
                shown = "(hidden)" if variable in _SECRETS else repr(raw)  # never a token in a log line
                problems.append(f"{variable}={shown} is not a valid {getattr(convert, '__name__', 'value')}")
        try:
            settings = cls(**values)
        except ConfigError as exc:
            problems.append(str(exc).removeprefix("invalid settings: "))
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))
        return settings


_SECRETS = ("RELATEDLY_ADMIN_TOKEN", "RELATEDLY_EDITOR_TOKENS")
EDITOR_NAME = re.compile(r"^[\w .@'-]{1,60}$")


def _editor_tokens(raw: str) -> tuple[tuple[str, str], ...]:
    """ "alice:token,bob:token" → (("alice", "token"), ("bob", "token")); a part without ':' is an error."""
    editors = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        name, colon, token = part.partition(":")
        if not colon:
            raise ValueError(f"{part[:20]!r}… is not name:token")
        editors.append((name.strip(), token.strip()))
    return tuple(editors)


_editor_tokens.__name__ = "list of name:token"


def _editor_problems(editors: tuple[tuple[str, str], ...], admin_token: str | None) -> list[str]:
    """Every named editor needs a plain name, their own token of at least 16 characters, and the admin token set
    (the editor page and the admin API are off without it)."""
    problems = []
    names = [name.casefold() for name, _ in editors]
    tokens = [token for _, token in editors]
    if editors and not admin_token:
        problems.append("editor_tokens need admin_token (the editor page is off without it)")
    if any(not EDITOR_NAME.match(name) for name, _ in editors):
        problems.append("editor_tokens names must be 1 to 60 letters, digits, spaces or .@'-")
    if any(len(token) < 16 for token in tokens):
        problems.append("editor_tokens tokens must be at least 16 characters")
    if len(set(names)) != len(names) or len(set(tokens)) != len(tokens) or admin_token in tokens:
        problems.append("editor_tokens must give every editor a name and a token of their own")
    return problems


MIN_ADMIN_TOKEN_CHARS = 16


def admin_token_problems(token: str) -> list[str]:
    """Why the admin token is too weak to guard the admin API and the editor, if it is: fewer than 16
    characters, or guessable by zxcvbn's estimate (repeats, sequences, keyboard walks, common passwords and
    words; its top score, 10^10 guesses or more, is required). A random token of 16+ characters passes."""
    if len(token) < MIN_ADMIN_TOKEN_CHARS:
        return [f"admin_token must be at least {MIN_ADMIN_TOKEN_CHARS} characters"]
    from zxcvbn import zxcvbn  # its word lists take a quarter of a second to load: only when a token is set

    estimate = zxcvbn(token[:72])  # zxcvbn's input limit; a longer token's first 72 characters say enough
    if estimate["score"] >= 4:
        return []
    reasons = [estimate["feedback"]["warning"], *estimate["feedback"]["suggestions"]]
    reason = " ".join(r for r in reasons if r) or "it is easy to guess"
    return [f"admin_token is too weak (about 10^{estimate['guesses_log10']:.0f} guesses): {reason} Use a random"
            " token, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"]


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())

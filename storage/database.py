"""`Database`: one engine for SQLite or PostgreSQL, and the schema upgrade both share.

`postgresql://` URLs use psycopg 3. SQLite runs in WAL mode with a busy timeout so the service's
workers and a CLI job can use one file at once; write transactions take the lock up front
(`BEGIN IMMEDIATE`) so two writers wait for each other instead of failing half-way.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from storage.schema import MIGRATIONS, SCHEMA_VERSION, schema_info

DEFAULT_DATABASE_FILE = "relatedly.db"
BUSY_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5
_UPGRADE_LOCK_KEY = 0x52454C41  # "RELA": PostgreSQL advisory lock taken while the schema is upgraded


class StorageError(RuntimeError):
    """The database cannot be opened, reached or upgraded; the message says which and why."""


def default_database_url(models_dir: str | os.PathLike[str]) -> str:
    """A SQLite file beside the models directory: state that outlives every model version."""
    path = Path(models_dir).resolve().parent / DEFAULT_DATABASE_FILE
    return f"sqlite:///{path}"


class Database:
    """The engine plus the few things every caller needs: a write transaction and the schema version."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(cls, url: str) -> Database:
        """An engine for `sqlite:///file` or `postgresql://…`; `StorageError` for anything else."""
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StorageError(f"invalid database URL {url!r}: {exc}") from None
        backend = parsed.get_backend_name()
        if backend in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(
                parsed, pool_pre_ping=True, pool_size=2, max_overflow=4,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
        elif backend == "sqlite":
            engine = _sqlite_engine(parsed.database)
        else:
            raise StorageError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
                               "use sqlite:///path/to/file.db or postgresql://user@host/dbname")
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, committed on success and rolled back on any error."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    def schema_version(self) -> int:
        """The version recorded in the database; 0 for an empty one."""
        try:
            with self.engine.connect() as conn:
                return _recorded_version(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the schema of {self.url}: {_reason(exc)}") from None

    def upgrade(self) -> int:
        """Create or migrate the schema to `SCHEMA_VERSION`; safe when several processes call it at once."""
        try:
            with self._upgrade_lock(), self.transaction() as conn:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
                current = _recorded_version(conn)
                if current > SCHEMA_VERSION:
                    raise StorageError(
                        f"the database {self.url} has schema version {current}, newer than this Relatedly "
                        f"knows ({SCHEMA_VERSION}): upgrade Relatedly"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[version](conn)
                if current == 0:
                    conn.execute(insert(schema_info).values(version=SCHEMA_VERSION))
                elif current < SCHEMA_VERSION:
                    conn.execute(update(schema_info).values(version=SCHEMA_VERSION))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot upgrade the database {self.url}: {_reason(exc)}") from None
        except OSError as exc:
            raise StorageError(f"cannot open the database {self.url}: {exc}") from None
        return SCHEMA_VERSION

    def dispose(self) -> None:
        """Close every pooled connection (after a fork, or at exit)."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        """`with database:` disposes of its connections when the block ends (one-shot commands)."""
        self.dispose()

    @contextmanager
    def _upgrade_lock(self) -> Iterator[None]:
        """SQLite: an exclusive lock file, so two first starts never both create the tables."""
        if not self.is_sqlite or not self.engine.url.database:
            yield
            return
        with open(f"{self.engine.url.database}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_engine(database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{database or ':memory:'}",
        connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def _recorded_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, schema_info.name):
        return 0
    version = conn.execute(select(schema_info.c.version)).scalar()
    return int(version or 0)


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's first line, without SQLAlchemy's background link and statement dump."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__

"""The tables, declared once with SQLAlchemy Core, and the versioned steps that create or migrate them.

`SCHEMA_VERSION` is what this code needs; the database records what it has in `schema_info`.
A later change of the schema adds a step to `MIGRATIONS` and bumps the version.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Connection, Integer, MetaData, Table

SCHEMA_VERSION = 1

metadata = MetaData()

schema_info = Table(
    "schema_info",
    metadata,
    Column("version", Integer, nullable=False),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


# version → the step that brings a database from version - 1 to it.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_tables}

"""The tables, declared once with SQLAlchemy Core, and the versioned steps that create or migrate them.

`SCHEMA_VERSION` is what this code needs; the database records what it has in `schema_info`.
A later change of the schema adds a step to `MIGRATIONS` and bumps the version.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import BigInteger, Column, Connection, DateTime, Index, Integer, MetaData, String, Table

SCHEMA_VERSION = 1

metadata = MetaData()

schema_info = Table(
    "schema_info",
    metadata,
    Column("version", Integer, nullable=False),
)

# Reader events (issue 11): one row per story shown in a list (an impression) and per story followed (a click),
# so click-through rate by position and model version is one GROUP BY. No client address is stored.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("type", String(16), nullable=False),  # "impression" | "click"
    Column("list_id", String(64), nullable=False),  # ties a click to the impression of its list
    Column("article_id", String(512), nullable=False),  # the article the list was for
    Column("story_id", String(512), nullable=False),  # the story shown or followed
    Column("position", Integer, nullable=False),  # 1-based place of the story in the list
    Column("model_version", String(128), nullable=False),
    Index("events_occurred_at", "occurred_at"),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


# version → the step that brings a database from version - 1 to it.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_tables}

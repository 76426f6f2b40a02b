"""The tables, declared once with SQLAlchemy Core, and the versioned steps that create or migrate them.

`SCHEMA_VERSION` is what this code needs; the database records what it has in `schema_info`.
A later change of the schema adds a step to `MIGRATIONS` and bumps the version.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    false,
    inspect,
)
from sqlalchemy.schema import CreateColumn

SCHEMA_VERSION = 2

metadata = MetaData()

schema_info = Table(
    "schema_info",
    metadata,
    Column("version", Integer, nullable=False),
)

# --- editorial overrides (issue 12): outside model versions, so they survive every train and rollback ---
override_pins = Table(
    "override_pins",
    metadata,
    Column("article_id", String, primary_key=True),
    Column("position", Integer, primary_key=True),  # 0 = shown first
    Column("story_id", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String, nullable=False),
)
override_blocks = Table(  # directed: story_id never under article_id (a both-ways block is two rows)
    "override_blocks",
    metadata,
    Column("article_id", String, primary_key=True),
    Column("story_id", String, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String, nullable=False),
)
override_exclusions = Table(  # never in any list; the story's own page keeps its list
    "override_exclusions",
    metadata,
    Column("story_id", String, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String, nullable=False),
)
override_audit = Table(  # who changed what and when; one row per change
    "override_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revision", Integer, nullable=False, index=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("article_id", String, nullable=True, index=True),
    Column("story_ids", Text, nullable=False),  # a JSON list
    Column("detail", Text, nullable=False),
)
override_revision = Table(  # one row: bumped in every change's transaction, which serialises the writers
    "override_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)
event.listen(override_revision, "after_create", DDL("INSERT INTO override_revision (id, revision) VALUES (1, 0)"))

editor_sign_in_failures = Table(  # failed editor sign-ins, so every worker and host limits them together
    "editor_sign_in_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client", String, nullable=False, index=True),
    Column("failed_at", DateTime(timezone=True), nullable=False),
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
    # issue 26: the experiment arm the list was served in (NULL: none), and whether the story was in a slot
    # filled from further down the candidate pool (exploration) — so the logs support unbiased estimates
    Column("arm", String(16), nullable=True),
    Column("explored", Boolean, nullable=False, server_default=false()),
    Index("events_occurred_at", "occurred_at"),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


def _add_event_arm_and_exploration(conn: Connection) -> None:
    """The events' `arm` and `explored` columns (a database created by step 1 of this code has them)."""
    present = {column["name"] for column in inspect(conn).get_columns("events")}
    for column in (events.c.arm, events.c.explored):
        if column.name not in present:
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(DDL(f"ALTER TABLE events ADD COLUMN {ddl}"))


# version → the step that brings a database from version - 1 to it.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_tables, 2: _add_event_arm_and_exploration}

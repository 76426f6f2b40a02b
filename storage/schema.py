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

SCHEMA_VERSION = 5

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
revoked_editor_sessions = Table(  # editor sessions signed out before they expired: their cookies no longer work
    "revoked_editor_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # SHA-256 of the session's secret, never the secret
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),  # then the cookie is dead anyway
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


# Admin writes run as jobs (service/api/admin.py): any worker answers for a job any other one runs.
admin_jobs = Table(
    "admin_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),  # "upsert" | "remove"
    Column("state", String(16), nullable=False),  # "running" | "done" | "failed"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", Text),  # JSON: the publish summary, or the error
)

# `relatedly sync` (issue 24): per followed site, how far its changes were read and the job's counters; per post,
# what the site last showed and what the job did with it, so a post the site takes down can come back.
sync_sources = Table(
    "sync_sources",
    metadata,
    Column("source", String(512), primary_key=True),  # "wordpress http://host/": the kind and the URL followed
    Column("cursor", String(32), nullable=True),  # the newest change applied (the site's UTC time), None = never
    Column("backlog_before", String(32), nullable=True),  # a run that hit --max-posts: older changes still to read
    Column("backlog_top", String(32), nullable=True),  # … and the cursor once they are read
    Column("etag", Text, nullable=True),  # feeds: the conditional GET's validators
    Column("last_modified", Text, nullable=True),
    Column("polls", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("posts_upserted", Integer, nullable=False),
    Column("posts_withdrawn", Integer, nullable=False),
    Column("last_success_at", DateTime(timezone=True), nullable=True),
    Column("last_failure_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_version", String(128), nullable=True),
    Column("retrain_recommended", Integer, nullable=False),
)
sync_posts = Table(
    "sync_posts",
    metadata,
    Column("source", String(512), primary_key=True),
    Column("article_id", String(512), primary_key=True),
    Column("state", String(16), nullable=False),  # served | withheld (listed, not servable) | withdrawn (unlisted)
    Column("content_sha256", String(64), nullable=True),  # of the article as read: an unchanged post is skipped
    Column("changed_at", String(32), nullable=True),  # the site's modification time of that version
)
SYNC_TABLES = (sync_sources, sync_posts)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


def _add_event_arm_and_exploration(conn: Connection) -> None:
    """The events' `arm` and `explored` columns (a database created by step 1 of this code has them)."""
    present = {column["name"] for column in inspect(conn).get_columns("events")}
    for column in (events.c.arm, events.c.explored):
        if column.name not in present:
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(DDL(f"ALTER TABLE events ADD COLUMN {ddl}"))


def _create_sync_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(SYNC_TABLES), checkfirst=True)


# version → the step that brings a database from version - 1 to it.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_tables,
    2: _create_sync_tables,
    3: lambda conn: admin_jobs.create(conn, checkfirst=True),
    4: lambda conn: revoked_editor_sessions.create(conn, checkfirst=True),
    5: _add_event_arm_and_exploration,
}

"""`relatedly sync`'s state: per followed site its cursor and counters, per post what the job last did.

A poll reads the state once, works in memory, and writes everything it changed in one transaction after
the model it published is current, so a poll that fails half-way leaves the state as it was and the next
poll does the same work again (updates are idempotent: a post applied twice is replaced by itself).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, delete, insert, select, update

from storage.database import Database
from storage.schema import sync_posts, sync_sources

SERVED, WITHHELD, WITHDRAWN = "served", "withheld", "withdrawn"
LISTED_STATES = (SERVED, WITHHELD)  # what the site lists publicly
_CHUNK = 500  # ids per `IN (…)`: well under SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class SourceState:
    """One followed site's row: where its changes were read up to, and the job's counters."""

    source: str
    cursor: str | None = None
    backlog_before: str | None = None
    backlog_top: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    polls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    posts_upserted: int = 0
    posts_withdrawn: int = 0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    last_version: str | None = None
    retrain_recommended: bool = False

    def replace(self, **changes: object) -> SourceState:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class PostState:
    """What the job last did with one post of a site."""

    state: str  # SERVED | WITHHELD | WITHDRAWN
    content_sha256: str | None = None
    changed_at: str | None = None


def load_source(database: Database, source: str) -> SourceState:
    """The site's state; a fresh one (no cursor, zero counters) for a site never synced."""
    with database.engine.connect() as conn:
        row = conn.execute(select(sync_sources).where(sync_sources.c.source == source)).mappings().first()
    if row is None:
        return SourceState(source)
    values = dict(row)
    values["retrain_recommended"] = bool(values["retrain_recommended"])
    return SourceState(**values)


def load_posts(database: Database, source: str) -> dict[str, PostState]:
    """Every post the job has seen from the site, by article id."""
    query = select(sync_posts.c.article_id, sync_posts.c.state, sync_posts.c.content_sha256,
                   sync_posts.c.changed_at).where(sync_posts.c.source == source)
    with database.engine.connect() as conn:
        return {article_id: PostState(state, sha, changed_at)
                for article_id, state, sha, changed_at in conn.execute(query)}


def save_poll(database: Database, state: SourceState, posts: dict[str, PostState]) -> None:
    """The site's new row and the posts the poll changed, in one transaction."""
    with database.transaction() as conn:
        _write_source(conn, state)
        source = state.source
        ids = list(posts)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            conn.execute(delete(sync_posts).where(and_(sync_posts.c.source == source,
                                                       sync_posts.c.article_id.in_(chunk))))
        if posts:
            conn.execute(insert(sync_posts), [
                {"source": source, "article_id": article_id, "state": post.state,
                 "content_sha256": post.content_sha256, "changed_at": post.changed_at}
                for article_id, post in posts.items()
            ])


def record_failure(database: Database, state: SourceState, error: str) -> SourceState:
    """Count a failed poll and keep its reason; the cursor and the posts stay as they were."""
    failed = state.replace(polls=state.polls + 1, failures=state.failures + 1,
                           consecutive_failures=state.consecutive_failures + 1,
                           last_failure_at=datetime.now(UTC), last_error=error[:2000])
    with database.transaction() as conn:
        _write_source(conn, failed)
    return failed


def listed_ids(posts: dict[str, PostState]) -> set[str]:
    """The ids the site lists publicly, as far as the job knows."""
    return {article_id for article_id, post in posts.items() if post.state in LISTED_STATES}


def served_ids(posts: dict[str, PostState]) -> Iterable[str]:
    return (article_id for article_id, post in posts.items() if post.state == SERVED)


def list_sources(database: Database) -> Sequence[SourceState]:
    """Every followed site's row, for reports and metrics."""
    with database.engine.connect() as conn:
        rows = conn.execute(select(sync_sources.c.source)).scalars().all()
    return [load_source(database, source) for source in rows]


def _write_source(conn: Connection, state: SourceState) -> None:
    values = dataclasses.asdict(state)
    values["retrain_recommended"] = int(state.retrain_recommended)
    exists = conn.execute(select(sync_sources.c.source).where(sync_sources.c.source == state.source)).first()
    if exists:
        conn.execute(update(sync_sources).where(sync_sources.c.source == state.source).values(**values))
    else:
        conn.execute(insert(sync_sources).values(**values))

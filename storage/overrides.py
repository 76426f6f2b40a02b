"""Editorial overrides in the database: pins, blocks, exclusions, their revision and their audit trail.

Every change runs in one transaction that first bumps the single revision row (so concurrent writers
are serialised, and a reader that sees revision N sees every change up to N), then edits the rows,
then writes an audit row naming who did what. Readers compare the revision before loading it all.
The same SQLAlchemy Core statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from storage.database import Database
from storage.schema import override_audit, override_blocks, override_exclusions, override_pins, override_revision

log = logging.getLogger("relatedly.storage.overrides")
REVISION_FILE = "overrides.revision"
REVISION_FORMAT, REVISION_BYTES = "<q", 8
OVERRIDES_CHANNEL = "relatedly:overrides"  # where writers announce a new revision to services on other hosts


class OverrideNotFoundError(LookupError):
    """Removing an override that does not exist (a typo in an id, or already removed)."""


@dataclass(frozen=True)
class OverrideRows:
    """Every override at one revision, as plain rows."""

    revision: int
    pins: dict[str, list[str]]  # article → stories in the editor's order
    blocks: list[tuple[str, str]]  # (article, story never under it)
    exclusions: dict[str, str]  # story → reason


@dataclass(frozen=True)
class AuditEntry:
    """One change: its revision, when, by whom, what."""

    revision: int
    changed_at: datetime
    actor: str
    action: str
    article_id: str | None
    story_ids: list[str]
    detail: str


def read_revision(db: Database) -> int:
    """The current revision (0 before the first change): one indexed single-row read."""
    with db.engine.connect() as conn:
        return int(conn.execute(select(override_revision.c.revision).where(override_revision.c.id == 1)).scalar() or 0)


def read_overrides(db: Database) -> OverrideRows:
    """Every override; the revision is read first, so the rows are at least that new."""
    with db.engine.connect() as conn:
        revision = conn.execute(select(override_revision.c.revision).where(override_revision.c.id == 1)).scalar()
        pins: dict[str, list[str]] = {}
        order = (override_pins.c.article_id, override_pins.c.position)
        for article_id, story_id in conn.execute(select(override_pins.c.article_id, override_pins.c.story_id)
                                                 .order_by(*order)):
            pins.setdefault(article_id, []).append(story_id)
        blocks = [(a, s) for a, s in conn.execute(
            select(override_blocks.c.article_id, override_blocks.c.story_id)
            .order_by(override_blocks.c.article_id, override_blocks.c.story_id))]
        excluded = override_exclusions.c
        exclusions = dict(conn.execute(select(excluded.story_id, excluded.reason).order_by(excluded.story_id)).all())
    return OverrideRows(int(revision or 0), pins, blocks, exclusions)


def set_pins(db: Database, article_id: str, story_ids: Sequence[str], *, actor: str) -> int:
    """Replace the article's pins by `story_ids`, in that order (empty: unpin all); the new revision."""
    with db.transaction() as conn:
        revision = _bump(conn)
        conn.execute(delete(override_pins).where(override_pins.c.article_id == article_id))
        now = _now()
        if story_ids:
            conn.execute(insert(override_pins), [
                {"article_id": article_id, "position": p, "story_id": s, "created_at": now, "created_by": actor}
                for p, s in enumerate(story_ids)
            ])
        _audit(conn, revision, actor, "pin" if story_ids else "unpin", article_id, list(story_ids))
    return revision


def pins_of(db: Database, article_id: str) -> list[str]:
    """The article's pins in order."""
    with db.engine.connect() as conn:
        return list(conn.execute(select(override_pins.c.story_id).where(override_pins.c.article_id == article_id)
                                 .order_by(override_pins.c.position)).scalars())


def add_block(db: Database, article_id: str, story_id: str, *, actor: str, both_ways: bool = False,
              reason: str = "") -> int:
    """Never show `story_id` under `article_id` (and, both ways, the reverse); idempotent; the new revision.
    The reason goes to the audit trail."""
    pairs = _pairs(article_id, story_id, both_ways)
    with db.transaction() as conn:
        revision = _bump(conn)
        existing = set(conn.execute(select(override_blocks.c.article_id, override_blocks.c.story_id)
                                    .where(_any_pair(pairs))).all())
        now = _now()
        new = [{"article_id": a, "story_id": s, "created_at": now, "created_by": actor}
               for a, s in pairs if (a, s) not in existing]
        if new:
            conn.execute(insert(override_blocks), new)
        detail = "; ".join(part for part in ("both ways" if both_ways else "", reason) if part)
        _audit(conn, revision, actor, "block", article_id, [story_id], detail)
    return revision


def remove_block(db: Database, article_id: str, story_id: str, *, actor: str, both_ways: bool = False) -> int:
    """Lift a block (both ways: both directions); `OverrideNotFoundError` if there was none."""
    pairs = _pairs(article_id, story_id, both_ways)
    with db.transaction() as conn:
        removed = conn.execute(delete(override_blocks).where(_any_pair(pairs))).rowcount
        if not removed:
            raise OverrideNotFoundError(f"{story_id!r} is not blocked under {article_id!r}")
        revision = _bump(conn)
        _audit(conn, revision, actor, "unblock", article_id, [story_id], "both ways" if both_ways else "")
    return revision


def add_exclusion(db: Database, story_id: str, *, actor: str, reason: str = "") -> int:
    """Keep a story out of every list (its own page keeps a list); updates the reason if already excluded."""
    with db.transaction() as conn:
        revision = _bump(conn)
        found = conn.execute(update(override_exclusions).where(override_exclusions.c.story_id == story_id)
                             .values(reason=reason)).rowcount
        if not found:
            conn.execute(insert(override_exclusions).values(
                story_id=story_id, reason=reason, created_at=_now(), created_by=actor))
        _audit(conn, revision, actor, "exclude", None, [story_id], reason)
    return revision


def remove_exclusion(db: Database, story_id: str, *, actor: str) -> int:
    """Let an excluded story appear in lists again; `OverrideNotFoundError` if it was not excluded."""
    with db.transaction() as conn:
        if not conn.execute(delete(override_exclusions).where(override_exclusions.c.story_id == story_id)).rowcount:
            raise OverrideNotFoundError(f"{story_id!r} is not excluded")
        revision = _bump(conn)
        _audit(conn, revision, actor, "include", None, [story_id])
    return revision


def read_audit(db: Database, *, limit: int = 100, article_id: str | None = None) -> list[AuditEntry]:
    """The latest changes, newest first (of one article's list — as page or as story — when given)."""
    query = select(override_audit).order_by(override_audit.c.id.desc()).limit(limit)
    if article_id is not None:
        query = query.where(or_(override_audit.c.article_id == article_id,
                                override_audit.c.story_ids.contains(json.dumps(article_id), autoescape=True)))
    with db.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [AuditEntry(r["revision"], _aware(r["changed_at"]), r["actor"], r["action"], r["article_id"],
                       json.loads(r["story_ids"]), r["detail"]) for r in rows]


def _bump(conn: Connection) -> int:
    """Increment the revision row (taking its lock until commit) and return the new value."""
    conn.execute(update(override_revision).where(override_revision.c.id == 1)
                 .values(revision=override_revision.c.revision + 1))
    return int(conn.execute(select(override_revision.c.revision).where(override_revision.c.id == 1)).scalar_one())


def _audit(conn: Connection, revision: int, actor: str, action: str, article_id: str | None,
           story_ids: list[str], detail: str = "") -> None:
    conn.execute(insert(override_audit).values(
        revision=revision, changed_at=_now(), actor=actor, action=action, article_id=article_id,
        story_ids=json.dumps(story_ids), detail=detail))


def _pairs(article_id: str, story_id: str, both_ways: bool) -> list[tuple[str, str]]:
    return [(article_id, story_id), (story_id, article_id)] if both_ways else [(article_id, story_id)]


def _any_pair(pairs: list[tuple[str, str]]) -> Any:
    return or_(*(and_(override_blocks.c.article_id == a, override_blocks.c.story_id == s) for a, s in pairs))


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands timezone-aware columns back naive; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)



def ring_doorbell(directory: str | Path, name: str = REVISION_FILE) -> None:
    """Ring the doorbell beside the models: write a value never written before into the 8-byte file every
    process maps.

    Written in place (never replaced), so the processes that mapped the file see the new bytes on
    their next read; the value only says "look again": readers take the revision from the database. It
    is not the revision itself, which a restored or replaced database can repeat while the file stays.
    (`name`: another doorbell of the same kind, such as the learned lists'.)
    """
    fd = os.open(Path(directory) / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, struct.pack(REVISION_FORMAT, time.time_ns()), 0)
    finally:
        os.close(fd)


def map_revision_file(directory: str | Path, name: str = REVISION_FILE) -> mmap.mmap | None:
    """The doorbell file mapped read-only (created when missing); None when the directory is not writable."""
    path = Path(directory) / name
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        log.warning("doorbell_unavailable path=%s error=%s (changes arrive by polling)", path, exc)
        return None
    try:
        if os.fstat(fd).st_size < REVISION_BYTES:
            os.pwrite(fd, bytes(REVISION_BYTES), 0)
        return mmap.mmap(fd, REVISION_BYTES, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)


def announce_overrides(redis_url: str | None, revision: int) -> bool:
    """Tell services on other hosts that the overrides changed; never fails the change (they also poll)."""
    if not redis_url:
        return False
    try:
        redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1).publish(
            OVERRIDES_CHANNEL, str(revision))
    except redis.RedisError as exc:
        log.warning("overrides_announcement_failed revision=%d error=%s (services also poll)", revision, exc)
        return False
    return True

"""Failed sign-ins per client address, and signed-out editor sessions, shared by every worker and host through
the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select

from storage.database import Database
from storage.schema import editor_sign_in_failures as failures
from storage.schema import revoked_editor_sessions as revoked


def record_failed_sign_in(db: Database, client: str, *, window_seconds: float) -> None:
    """Count one failure, and forget those older than the window (the table stays small)."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(delete(failures).where(failures.c.failed_at < now - timedelta(seconds=window_seconds)))
        conn.execute(insert(failures).values(client=client, failed_at=now))


def recent_failed_sign_ins(db: Database, client: str, *, window_seconds: float) -> tuple[int, datetime | None]:
    """How many failures this client had within the window, and when the oldest of them was."""
    since = datetime.now(UTC) - timedelta(seconds=window_seconds)
    with db.engine.connect() as conn:
        count, oldest = conn.execute(
            select(func.count(), func.min(failures.c.failed_at))
            .where(failures.c.client == client, failures.c.failed_at >= since)
        ).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite hands them back naive; they were written in UTC
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def revoke_session(db: Database, session_hash: str, *, expires_at: datetime) -> None:
    """Record a signed-out session until it would have expired, and forget those already expired."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(delete(revoked).where(revoked.c.expires_at < now))
        if conn.execute(select(revoked.c.session_hash).where(revoked.c.session_hash == session_hash)).first() is None:
            conn.execute(insert(revoked).values(session_hash=session_hash, expires_at=expires_at))


def session_revoked(db: Database, session_hash: str) -> bool:
    """Whether the session was signed out."""
    with db.engine.connect() as conn:
        return conn.execute(select(revoked.c.session_hash).where(revoked.c.session_hash == session_hash)).first() \
            is not None

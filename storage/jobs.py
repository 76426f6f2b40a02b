"""Admin jobs: a write that takes seconds (a publish) recorded so that any worker can report on it."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from storage.database import Database
from storage.schema import admin_jobs


def start_job(db: Database, kind: str) -> str:
    """Record a job as running; its new id."""
    job_id = secrets.token_hex(16)
    with db.transaction() as conn:
        conn.execute(insert(admin_jobs).values(id=job_id, kind=kind, state="running", created_at=datetime.now(UTC)))
    return job_id


def finish_job(db: Database, job_id: str, outcome: dict[str, Any], *, failed: bool = False) -> None:
    """Record a job's end: `done` with its result, or `failed` with its error."""
    with db.transaction() as conn:
        conn.execute(update(admin_jobs).where(admin_jobs.c.id == job_id).values(
            state="failed" if failed else "done", finished_at=datetime.now(UTC),
            outcome=json.dumps(outcome, ensure_ascii=False)))


def read_job(db: Database, job_id: str) -> dict[str, Any] | None:
    """`{"id", "kind", "state", "created_at", "finished_at", "result" | "error"}`, or None when unknown."""
    with db.engine.connect() as conn:
        row = conn.execute(select(admin_jobs).where(admin_jobs.c.id == job_id)).first()
    if row is None:
        return None
    job: dict[str, Any] = {"id": row.id, "kind": row.kind, "state": row.state,
                           "created_at": _iso(row.created_at), "finished_at": _iso(row.finished_at)}
    if row.outcome is not None:
        job["error" if row.state == "failed" else "result"] = json.loads(row.outcome)
    return job


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Reader events: appending impressions and clicks, click-through rate by position and model version, pruning.

SQLAlchemy Core, the same statements on SQLite and PostgreSQL. An impression of a list of n stories is n
rows (positions 1…n) and a click is one row, so every figure of the report is a count over one table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, distinct, func, insert, select

from storage.database import Database
from storage.schema import events

EVENT_TYPES = ("impression", "click")


@dataclass(frozen=True)
class PositionStats:
    """Impressions and clicks of one position of one model version's lists."""

    model_version: str
    position: int
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


@dataclass(frozen=True)
class VersionStats:
    """One model version's lists shown and clicks: its click-through rate per list."""

    model_version: str
    lists: int
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.lists if self.lists else 0.0


def append_events(database: Database, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert validated event rows (the `events` columns but `id`) in one transaction; the count written."""
    if not rows:
        return 0
    with database.transaction() as conn:
        conn.execute(insert(events), list(rows))
    return len(rows)


def position_stats(database: Database, since: datetime) -> list[PositionStats]:
    """Per model version and position, the impressions and clicks since `since`, by version then position."""
    query = (
        select(events.c.model_version, events.c.position, events.c.type, func.count())
        .where(events.c.occurred_at >= since)
        .group_by(events.c.model_version, events.c.position, events.c.type)
    )
    counts: dict[tuple[str, int], dict[str, int]] = {}
    with database.engine.connect() as conn:
        for version, position, kind, n in conn.execute(query):
            counts.setdefault((version, position), {})[kind] = int(n)
    return [PositionStats(version, position, c.get("impression", 0), c.get("click", 0))
            for (version, position), c in sorted(counts.items())]


def version_stats(database: Database, since: datetime) -> list[VersionStats]:
    """Per model version, the lists shown (impression events) and clicks since `since`."""
    lists = (select(events.c.model_version, func.count(distinct(events.c.list_id)).label("n"))
             .where(events.c.occurred_at >= since, events.c.type == "impression")
             .group_by(events.c.model_version).subquery())
    clicks = (select(events.c.model_version, func.count().label("n"))
              .where(events.c.occurred_at >= since, events.c.type == "click")
              .group_by(events.c.model_version).subquery())
    with database.engine.connect() as conn:
        shown = dict(conn.execute(select(lists.c.model_version, lists.c.n)).all())
        clicked = dict(conn.execute(select(clicks.c.model_version, clicks.c.n)).all())
    versions = sorted(shown.keys() | clicked.keys())
    return [VersionStats(v, int(shown.get(v, 0)), int(clicked.get(v, 0))) for v in versions]


def prune_events(database: Database, older_than: datetime) -> int:
    """Delete the events that occurred before `older_than`; how many were deleted."""
    with database.transaction() as conn:
        return conn.execute(delete(events).where(events.c.occurred_at < older_than)).rowcount

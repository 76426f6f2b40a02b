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
    """One model version's lists: how many were shown and clicked, stories shown and clicks."""

    model_version: str
    lists: int
    clicked_lists: int
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        """Clicks per story shown."""
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def list_ctr(self) -> float:
        """Share of the lists shown that got at least one click."""
        return self.clicked_lists / self.lists if self.lists else 0.0


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
    """Per model version, the lists and stories shown and the clicks since `since`."""
    query = (
        select(events.c.model_version, events.c.type, func.count(distinct(events.c.list_id)), func.count())
        .where(events.c.occurred_at >= since)
        .group_by(events.c.model_version, events.c.type)
    )
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    with database.engine.connect() as conn:
        for version, kind, lists, n in conn.execute(query):
            counts.setdefault(version, {})[kind] = (int(lists), int(n))
    stats = []
    for version, c in sorted(counts.items()):
        (lists, impressions), (clicked_lists, clicks) = c.get("impression", (0, 0)), c.get("click", (0, 0))
        stats.append(VersionStats(version, lists, clicked_lists, impressions, clicks))
    return stats


def prune_events(database: Database, older_than: datetime) -> int:
    """Delete the events that occurred before `older_than`; how many were deleted."""
    with database.transaction() as conn:
        return conn.execute(delete(events).where(events.c.occurred_at < older_than)).rowcount

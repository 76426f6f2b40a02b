"""Reader events: appending impressions and clicks, click-through rate by position and model version, pruning.

SQLAlchemy Core, the same statements on SQLite and PostgreSQL. An impression of a list of n stories is n
rows (positions 1…n) and a click is one row, so every figure of the report is a count over one table.
Rows arrive in batches of thousands from the service's writer thread, so `append_events` hands them to
the driver's `executemany` as plain tuples, converted by SQLAlchemy's own bind processors once per
distinct value: SQLAlchemy's per-row parameter handling cost twice the insert itself, all of it holding
the GIL the request threads need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Dialect, bindparam, case, delete, distinct, func, insert, select

from storage.database import Database
from storage.schema import events

EVENT_TYPES = ("impression", "click")


class EventRow(NamedTuple):
    """One `events` row (all columns but `id`); an impression of n stories is n of them."""

    occurred_at: datetime
    type: str
    list_id: str
    article_id: str
    story_id: str
    position: int
    model_version: str
    arm: str | None = None  # the experiment arm the list was served in
    explored: bool = False  # the story filled an explored slot


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


def append_events(database: Database, rows: Sequence[EventRow]) -> int:
    """Insert validated event rows in one transaction; the count written."""
    if not rows:
        return 0
    statement, names, occurred_at_to_driver = _bulk_insert(database.engine.dialect)
    last: tuple[Any, Any] = (None, None)  # the rows of one event share their `occurred_at`: convert it once
    params: list[Any] = []
    for row in rows:
        if row[0] is not last[0]:
            last = (row[0], occurred_at_to_driver(row[0]))
        params.append((last[1], *row[1:]))
    if names is not None:  # a driver with named parameters (psycopg)
        params = [dict(zip(names, values, strict=True)) for values in params]
    with database.transaction() as conn:
        conn.exec_driver_sql(statement, params)
    return len(rows)


_BulkInsert = tuple[str, tuple[str, ...] | None, Callable[[Any], Any]]
_bulk_inserts: dict[tuple[str, str, str], _BulkInsert] = {}


def _bulk_insert(dialect: Dialect) -> _BulkInsert:
    """The dialect's INSERT of one row, its parameter names when they are named, and `occurred_at`'s converter."""
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    if key not in _bulk_inserts:
        _bulk_inserts[key] = _compile_bulk_insert(dialect)
    return _bulk_inserts[key]


def _compile_bulk_insert(dialect: Dialect) -> _BulkInsert:
    compiled = insert(events).values({name: bindparam(name, type_=events.c[name].type)
                                      for name in EventRow._fields}).compile(dialect=dialect)
    if compiled.positional and tuple(compiled.positiontup or ()) != EventRow._fields:
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup}")
    column_type = events.c.occurred_at.type
    convert = column_type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
    return str(compiled), None if compiled.positional else EventRow._fields, convert


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
    return [_stats(version, c) for version, c in sorted(counts.items())]


def arm_stats(database: Database, since: datetime) -> list[VersionStats]:
    """Per experiment arm (events without one are left out), as `version_stats` counts per model version:
    lists shown, lists with a click, stories shown, clicks. `model_version` holds the arm's name."""
    query = (
        select(events.c.arm, events.c.type, func.count(distinct(events.c.list_id)), func.count())
        .where(events.c.occurred_at >= since, events.c.arm.is_not(None))
        .group_by(events.c.arm, events.c.type)
    )
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    with database.engine.connect() as conn:
        for arm, kind, lists, n in conn.execute(query):
            counts.setdefault(arm, {})[kind] = (int(lists), int(n))
    return [_stats(arm, c) for arm, c in sorted(counts.items())]


def _stats(name: str, counts: dict[str, tuple[int, int]]) -> VersionStats:
    (lists, impressions), (clicked_lists, clicks) = counts.get("impression", (0, 0)), counts.get("click", (0, 0))
    return VersionStats(name, lists, clicked_lists, impressions, clicks)


def pair_position_counts(database: Database, since: datetime) -> Iterator[tuple[str, str, int, int, int]]:
    """`(article_id, story_id, position, impressions, clicks)` for every triple seen since `since`.

    Streamed from one grouped query (whatever the model version: evidence is keyed by ids, so it
    outlives versions), so memory holds the groups, never the events.
    """
    is_click = case((events.c.type == "click", 1), else_=0)
    query = (
        select(events.c.article_id, events.c.story_id, events.c.position,
               func.count() - func.sum(is_click), func.sum(is_click))
        .where(events.c.occurred_at >= since)
        .group_by(events.c.article_id, events.c.story_id, events.c.position)
    )
    with database.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=50_000).execute(query)
        for article_id, story_id, position, impressions, clicks in result:
            yield article_id, story_id, int(position), int(impressions), int(clicks)


def prune_events(database: Database, older_than: datetime) -> int:
    """Delete the events that occurred before `older_than`; how many were deleted."""
    with database.transaction() as conn:
        return conn.execute(delete(events).where(events.c.occurred_at < older_than)).rowcount


@dataclass(frozen=True)
class StoryStats:
    """How often one story was shown in a list and followed from one."""

    story_id: str
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


def story_stats(database: Database, story_ids: Sequence[str], since: datetime) -> dict[str, StoryStats]:
    """Impressions and clicks of each of `story_ids` since `since` (zeros for a story never shown)."""
    ids = sorted(set(story_ids))
    counts: dict[str, dict[str, int]] = {i: {} for i in ids}
    if ids:
        query = (
            select(events.c.story_id, events.c.type, func.count())
            .where(events.c.occurred_at >= since, events.c.story_id.in_(ids))
            .group_by(events.c.story_id, events.c.type)
        )
        with database.engine.connect() as conn:
            for story_id, kind, n in conn.execute(query):
                counts[story_id][kind] = int(n)
    return {i: StoryStats(i, c.get("impression", 0), c.get("click", 0)) for i, c in counts.items()}


def most_clicked(database: Database, since: datetime, limit: int) -> list[str]:
    """The stories followed most often since `since`, most first (ties by id): the site's most-read."""
    clicks = func.count().label("clicks")
    query = (
        select(events.c.story_id, clicks)
        .where(events.c.occurred_at >= since, events.c.type == "click")
        .group_by(events.c.story_id)
        .order_by(clicks.desc(), events.c.story_id)
        .limit(limit)
    )
    with database.engine.connect() as conn:
        return [story_id for story_id, _ in conn.execute(query)]

"""Event queries on a real SQLite file and a real PostgreSQL: the report's counts and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.events import (
    EventRow,
    append_events,
    most_clicked,
    position_stats,
    prune_events,
    story_stats,
    version_stats,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def rows(kind: str, version: str, list_id: str, positions: list[int], when: datetime) -> list[EventRow]:
    return [EventRow(when, kind, list_id, "a", f"s{p}", p, version) for p in positions]


def test_counts_by_version_and_position(database) -> None:
    append_events(database, rows("impression", "v1", "l1", [1, 2, 3], NOW)
                  + rows("impression", "v1", "l2", [1, 2, 3], NOW)
                  + rows("click", "v1", "l1", [1], NOW) + rows("click", "v1", "l2", [3], NOW)
                  + rows("impression", "v2", "l3", [1, 2], NOW) + rows("click", "v2", "l3", [2], NOW)
                  + rows("impression", "v2", "old", [1, 2], NOW - timedelta(days=30)))
    since = NOW - timedelta(days=7)
    assert [(s.model_version, s.position, s.impressions, s.clicks) for s in position_stats(database, since)] == [
        ("v1", 1, 2, 1), ("v1", 2, 2, 0), ("v1", 3, 2, 1), ("v2", 1, 1, 0), ("v2", 2, 1, 1)]
    assert [(v.model_version, v.lists, v.clicked_lists, v.impressions, v.clicks, v.list_ctr)
            for v in version_stats(database, since)] == [("v1", 2, 2, 6, 2, 1.0), ("v2", 1, 1, 2, 1, 1.0)]
    assert version_stats(database, since)[0].ctr == 2 / 6
    assert position_stats(database, since)[0].ctr == 0.5


def test_prune_deletes_only_older_events(database) -> None:
    append_events(database, rows("impression", "v1", "new", [1, 2], NOW)
                  + rows("impression", "v1", "old", [1, 2, 3], NOW - timedelta(days=91)))
    assert prune_events(database, NOW - timedelta(days=90)) == 3
    assert prune_events(database, NOW - timedelta(days=90)) == 0
    assert [(s.position, s.impressions) for s in position_stats(database, NOW - timedelta(days=365))] == [(1, 1),
                                                                                                          (2, 1)]


def _story_rows(kind: str, stories: list[str], when: datetime) -> list[EventRow]:
    return [EventRow(when, kind, f"l{n}", "page", story, 1, "v1") for n, story in enumerate(stories)]


def test_story_figures_and_the_most_clicked_stories(database) -> None:
    now = datetime.now(UTC)
    append_events(database, _story_rows("impression", ["a", "a", "a", "b", "b", "c"], now)
                  + _story_rows("click", ["a", "b", "b", "c", "c"], now)
                  + _story_rows("click", ["a", "a", "a"], now - timedelta(days=10)))  # old: outside the window
    since = now - timedelta(days=7)
    stats = story_stats(database, ["a", "b", "never-shown"], since)
    assert {i: (s.impressions, s.clicks) for i, s in stats.items()} == {"a": (3, 1), "b": (2, 2), "never-shown": (0, 0)}
    assert stats["a"].ctr == 1 / 3 and stats["never-shown"].ctr == 0.0
    assert story_stats(database, [], since) == {}
    assert most_clicked(database, since, 10) == ["b", "c", "a"]  # two clicks each for b and c: by id
    assert most_clicked(database, since, 1) == ["b"]
    assert most_clicked(database, now - timedelta(days=30), 1) == ["a"]

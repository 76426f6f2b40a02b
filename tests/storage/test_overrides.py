"""The override queries on SQLite and PostgreSQL: revisions, order, both-ways blocks, audit, concurrent writers."""

from __future__ import annotations

import threading

import pytest

from storage import Database
from storage.overrides import (
    OverrideNotFoundError,
    add_block,
    add_exclusion,
    read_audit,
    read_overrides,
    read_revision,
    remove_block,
    remove_exclusion,
    set_pins,
)


def test_a_new_database_is_at_revision_zero_with_nothing_stored(database: Database) -> None:
    rows = read_overrides(database)
    assert (rows.revision, rows.pins, rows.blocks, rows.exclusions) == (0, {}, [], {})


def test_each_change_bumps_the_revision_and_keeps_the_editors_order(database: Database) -> None:
    assert set_pins(database, "a", ["z", "b", "m"], actor="t") == 1
    assert set_pins(database, "c", ["a"], actor="t") == 2
    assert add_block(database, "a", "x", actor="t", both_ways=True) == 3
    assert add_exclusion(database, "s", actor="t", reason="sponsored") == 4
    assert add_exclusion(database, "s", actor="t", reason="legal") == 5  # updates the reason
    rows = read_overrides(database)
    assert rows.revision == read_revision(database) == 5
    assert rows.pins == {"a": ["z", "b", "m"], "c": ["a"]}
    assert rows.blocks == [("a", "x"), ("x", "a")]
    assert rows.exclusions == {"s": "legal"}
    assert set_pins(database, "a", [], actor="t") == 6
    assert "a" not in read_overrides(database).pins


def test_removing_what_is_not_there_fails_and_changes_nothing(database: Database) -> None:
    add_block(database, "a", "x", actor="t")
    with pytest.raises(OverrideNotFoundError):
        remove_block(database, "x", "a", actor="t")
    with pytest.raises(OverrideNotFoundError):
        remove_exclusion(database, "nothing", actor="t")
    assert read_revision(database) == 1
    assert remove_block(database, "a", "x", actor="t", both_ways=True) == 2  # one direction existed


def test_the_audit_names_who_did_what_and_filters_by_article(database: Database) -> None:
    set_pins(database, "page_1", ["story%"], actor="cli:ann")
    add_block(database, "other", "page_1", actor="editor:bo")
    add_exclusion(database, "pageX1", actor="api:cy")
    entries = read_audit(database)
    assert [(e.revision, e.actor, e.action) for e in entries] == [
        (3, "api:cy", "exclude"), (2, "editor:bo", "block"), (1, "cli:ann", "pin")]
    assert entries[0].changed_at.tzinfo is not None
    # "page_1" matches as a page and as a story, never "pageX1" through a LIKE wildcard
    assert [e.revision for e in read_audit(database, article_id="page_1")] == [2, 1]


def test_concurrent_writers_get_distinct_revisions(database: Database) -> None:
    errors: list[Exception] = []

    def write(n: int) -> None:
        try:
            for k in range(5):
                set_pins(database, f"a{n}", [f"s{k}"], actor=f"w{n}")
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert read_revision(database) == 20
    assert sorted(e.revision for e in read_audit(database, limit=50)) == list(range(1, 21))

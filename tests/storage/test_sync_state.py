"""`relatedly sync`'s state on SQLite and PostgreSQL: a poll's write is one transaction, failures are counted,
and a database of schema version 1 gains the later tables by the migration steps."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, update

from storage import Database
from storage.schema import MIGRATIONS, SCHEMA_VERSION, schema_info
from storage.sync_state import SERVED, WITHDRAWN, PostState, load_posts, load_source, record_failure, save_poll


def test_a_poll_is_saved_and_read_back(database: Database) -> None:
    fresh = load_source(database, "http://site.example/")
    assert (fresh.cursor, fresh.polls, fresh.failures) == (None, 0, 0)
    posts = {str(i): PostState(SERVED, f"{i:064x}", "2026-12-08T01:02:03") for i in range(1, 1201)}
    save_poll(database, fresh.replace(cursor="2026-12-08T01:02:03", polls=1, posts_upserted=1200), posts)
    failed = record_failure(database, load_source(database, "http://site.example/"), "HTTP 500 Internal Server Error")
    save_poll(database, failed.replace(polls=3, consecutive_failures=0), {"7": PostState(WITHDRAWN)})

    state = load_source(database, "http://site.example/")
    assert (state.cursor, state.polls, state.failures, state.consecutive_failures) == ("2026-12-08T01:02:03", 3, 1, 0)
    assert state.last_error == "HTTP 500 Internal Server Error" and state.last_failure_at is not None
    read = load_posts(database, "http://site.example/")
    assert len(read) == 1200 and read["7"] == PostState(WITHDRAWN) and read["8"] == posts["8"]
    assert load_posts(database, "http://other.example/") == {}


def test_version_one_databases_gain_the_later_tables(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    with database.transaction() as conn:  # a database as schema version 1 left it
        MIGRATIONS[1](conn)
        conn.execute(schema_info.insert().values(version=1))
        for table in ("sync_posts", "sync_sources", "admin_jobs", "revoked_editor_sessions"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
    assert database.upgrade() == SCHEMA_VERSION == 5
    assert {"sync_sources", "sync_posts", "admin_jobs", "events"} <= set(inspect(database.engine).get_table_names())
    with database.transaction() as conn:
        conn.execute(update(schema_info).values(version=1))
    assert database.upgrade() == 5  # the steps are safe to run over existing tables
    database.dispose()


def test_a_long_error_is_cut(database: Database) -> None:
    failed = record_failure(database, load_source(database, "http://site.example/"), "x" * 5000)
    assert len(load_source(database, "http://site.example/").last_error or "") == 2000 == len(failed.last_error or "")

"""The database package on SQLite and on a real PostgreSQL: schema creation, upgrades, errors, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text, update

from service import create_app
from service.config import ConfigError, Settings
from storage import Database, StorageError, default_database_url
from storage.schema import SCHEMA_VERSION, schema_info
from training.cli import main


def test_an_empty_database_has_version_zero_and_upgrade_creates_the_schema(database_url: str) -> None:
    db = Database.from_url(database_url)
    assert db.schema_version() == 0
    assert db.upgrade() == SCHEMA_VERSION
    assert db.schema_version() == SCHEMA_VERSION
    assert db.upgrade() == SCHEMA_VERSION  # idempotent
    with db.engine.connect() as conn:
        assert conn.execute(select(schema_info.c.version)).scalars().all() == [SCHEMA_VERSION]
    db.dispose()


def test_concurrent_first_upgrades_from_several_processes_agree(database_url: str) -> None:
    script = "import sys; from storage import Database; print(Database.from_url(sys.argv[1]).upgrade())"
    processes = [subprocess.Popen([sys.executable, "-c", script, database_url], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err for _, err in results]
    assert [out.strip() for out, _ in results] == [str(SCHEMA_VERSION)] * 4
    db = Database.from_url(database_url)
    with db.engine.connect() as conn:
        assert conn.execute(select(schema_info.c.version)).scalars().all() == [SCHEMA_VERSION]
    db.dispose()


def test_a_database_newer_than_this_code_is_refused(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(update(schema_info).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(StorageError, match="newer than this Relatedly"):
        database.upgrade()


def test_a_failed_transaction_is_rolled_back(database: Database) -> None:
    with pytest.raises(ZeroDivisionError), database.transaction() as conn:
        conn.execute(insert(schema_info).values(version=99))
        1 / 0  # noqa: B018
    with database.engine.connect() as conn:
        assert conn.execute(select(schema_info.c.version)).scalars().all() == [SCHEMA_VERSION]


@pytest.mark.parametrize("url, message", [
    ("mysql://localhost/db", "unsupported database URL"),
    ("not a url", "invalid database URL"),
])
def test_unsupported_urls_are_refused_by_name(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        Database.from_url(url)


def test_an_unreachable_postgresql_is_a_storage_error_naming_it() -> None:
    db = Database.from_url("postgresql://127.0.0.1:1/none")
    with pytest.raises(StorageError, match=r"cannot upgrade the database postgresql\+psycopg://127.0.0.1:1/none"):
        db.upgrade()


def test_the_default_database_lies_beside_the_models_directory(tmp_path: Path) -> None:
    assert default_database_url(tmp_path / "models") == f"sqlite:///{tmp_path / 'relatedly.db'}"
    assert Settings(models_dir=str(tmp_path / "models")).resolved_database_url == default_database_url(
        tmp_path / "models")
    assert Settings(database_url="postgresql://db/x").resolved_database_url == "postgresql://db/x"


def test_settings_refuse_a_database_url_of_another_kind() -> None:
    with pytest.raises(ConfigError, match="database_url must start with"):
        Settings.from_env({"RELATEDLY_DATABASE_URL": "mysql://localhost/x"})


def test_the_service_creates_the_schema_when_it_starts(sample_models_dir: Path, database_url: str) -> None:
    app = create_app(Settings(models_dir=str(sample_models_dir), database_url=database_url), watch=False)
    assert app.extensions["relatedly"].database.schema_version() == SCHEMA_VERSION


def test_db_upgrade_command(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    assert f"at schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    assert Database.from_url(database_url).schema_version() == SCHEMA_VERSION


def test_db_upgrade_command_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database-url", "postgresql://127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot upgrade the database") and "Traceback" not in err


def test_db_upgrade_defaults_to_the_file_beside_the_models_directory(tmp_path: Path) -> None:
    assert main(["db", "upgrade", "--models-dir", str(tmp_path / "models")]) == 0
    assert (tmp_path / "relatedly.db").is_file()


def test_a_version_1_database_gains_the_events_arm_and_explored_columns(database: Database) -> None:
    """Step 2 (issue 26) on a database made before it: the columns are added, the rows kept."""
    with database.transaction() as conn:
        conn.execute(text("ALTER TABLE events DROP COLUMN arm"))
        conn.execute(text("ALTER TABLE events DROP COLUMN explored"))
        conn.execute(text("INSERT INTO events (occurred_at, type, list_id, article_id, story_id, position, "
                          "model_version) VALUES (CURRENT_TIMESTAMP, 'click', 'l', 'a', 's', 1, 'v')"))
        conn.execute(update(schema_info).values(version=1))
    assert database.upgrade() == SCHEMA_VERSION
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT arm, explored FROM events")).all() == [(None, False)]

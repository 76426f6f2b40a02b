"""`relatedly db …`: the durable state's database (events, editorial overrides) from the command line.

Every command that needs the database takes `--database-url` (default `$RELATEDLY_DATABASE_URL`, else the
SQLite file beside `--models-dir`, the same file the service uses) and opens it with `open_database`.
"""

from __future__ import annotations

import argparse
import os

from storage import Database, default_database_url


def database_options(models_dir: str) -> argparse.ArgumentParser:
    """`--database-url` and `--models-dir` with the service defaults: the parent of every database command."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--database-url", default=os.environ.get("RELATEDLY_DATABASE_URL") or None,
                         help="sqlite:///file or postgresql://… (default: $RELATEDLY_DATABASE_URL, "
                              "else relatedly.db beside the models directory)")
    options.add_argument("--models-dir", default=models_dir, help="the default database lies beside it")
    return options


def open_database(args: argparse.Namespace) -> Database:
    """The database the arguments name, its schema brought up to date."""
    database = Database.from_url(args.database_url or default_database_url(args.models_dir))
    database.upgrade()
    return database


def add_database_commands(commands: argparse._SubParsersAction, models_dir: str) -> argparse._SubParsersAction:
    """`relatedly db upgrade`; returns the `db` actions so other modules can add theirs (e.g. prune)."""
    db = commands.add_parser("db", help="the database of events and editorial overrides")
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("upgrade", parents=[database_options(models_dir)],
                       help="create the tables or migrate them to this version").set_defaults(handler=_upgrade)
    return actions


def _upgrade(args: argparse.Namespace) -> int:
    with open_database(args) as database:
        print(f"database {database.url} at schema version {database.schema_version()}")
    return 0

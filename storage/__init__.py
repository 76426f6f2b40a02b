"""Relatedly's durable mutable state (reader events, editorial overrides) in a relational database.

SQLite by default (a file beside the models directory), PostgreSQL by URL. Model versions stay files:
the database never holds a model. Imported by `service` and `training`; imports nothing of theirs.
"""

from storage.database import Database, StorageError, default_database_url

__all__ = ["Database", "StorageError", "default_database_url"]

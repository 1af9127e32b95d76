"""Bring a database to the newest schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cdrex.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database.url.render_as_string(hide_password=False))
    return config


def upgrade(database: Database) -> None:
    config = alembic_config(database)
    # On SQLite, BEGIN IMMEDIATE: processes started together on a new file queue for the
    # write lock instead of failing with "database is locked" (see Database.write).
    with database.write() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

"""What SQLAlchemy leaves to us about the two backends, each done in one place.

SQLAlchemy's Core makes most statements the same on SQLite and PostgreSQL; cdrex goes
under it only where speed or locking needs the driver itself (docs/architecture.md has
the whole table of differences, and where each is handled):

- taking turns across processes: PostgreSQL's advisory locks, SQLite's write lock;
- the DB-API connection under a SQLAlchemy one (psycopg's COPY, sqlite3's own BEGIN
  IMMEDIATE and executemany of plain tuples);
- SQLite's timestamp text: SQLAlchemy's ``DateTime`` stores naive UTC text there, and
  the raw statements that bypass it must write, compare and read the very same form.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


def driver_connection(conn: sa.Connection) -> Any:
    """The sqlite3 or psycopg connection under ``conn``, in ``conn``'s transaction."""
    driver = conn.connection.driver_connection
    assert driver is not None, "the connection is closed"
    return driver


def is_sqlite(conn: sa.Connection) -> bool:
    return conn.dialect.name == "sqlite"


def take_turns(conn: sa.Connection, lock_key: int) -> None:
    """Make the rest of this write transaction one at a time among all that take turns
    with ``lock_key``, in every process: on PostgreSQL a transaction advisory lock
    (released at commit or rollback); on SQLite a write transaction is one at a time
    already."""
    if not is_sqlite(conn):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})


def sqlite_timestamp(value: datetime) -> str:
    """The text SQLAlchemy's DateTime stores on SQLite for ``value`` (naive: UTC). Exports
    compare and cut this form, so it keeps the microseconds even when they are zero
    (Python's default adapter drops them, and a call at exactly 00:00:00 would fall out
    of its month)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def utc_datetime(value: datetime | str) -> datetime:
    """A stored time read past SQLAlchemy's DateTime, as an aware UTC datetime: SQLite
    gives the text ``sqlite_timestamp`` wrote, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


# Adapting in the driver, per value in C, is what lets record tuples go to executemany
# as they are; SQLAlchemy binds its DateTime columns as text, so nothing else changes.
sqlite3.register_adapter(datetime, sqlite_timestamp)

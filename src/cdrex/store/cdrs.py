"""CDR rows: bulk insert (the import path) and counting.

Bulk insert is the import's bottleneck, so it skips SQLAlchemy's per-row work and speaks
to the driver: COPY on PostgreSQL, executemany of the record tuples on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from cdrex.cdrs.records import INBOUND_FIELDS
from cdrex.store.db import Database
from cdrex.store.schema import cdrs_in

INBOUND_NAMES = ("account_id", *(field.name for field in INBOUND_FIELDS))
_COLUMNS = ", ".join(INBOUND_NAMES)

Batches = Iterable[list[tuple]]


def _sqlite_timestamp(value: datetime) -> str:
    """The text SQLAlchemy's DateTime stores on SQLite. Exports compare and cut this form,
    so it keeps the microseconds even when they are zero (Python's default adapter
    drops them, and a call at exactly 00:00:00 would fall out of its month)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


# Adapting in the driver, per value in C, is what lets the record tuples go to executemany
# as they are; SQLAlchemy binds its DateTime columns as text, so nothing else changes.
sqlite3.register_adapter(datetime, _sqlite_timestamp)


def insert_inbound(db: Database, account_id: int, batches: Batches) -> int:
    """Insert batches of parsed records (naive UTC timestamps, as cdrex.cdrs.records makes
    them) in one transaction: all of them or, on error, none."""
    with db.write() as conn:
        return _INSERTERS[conn.dialect.name](conn, int(account_id), batches)


def _binary_copy_type(column: sa.Column) -> str:
    """The PostgreSQL type binary COPY sends a column's values as; it must match exactly."""
    if isinstance(column.type, sa.DateTime):
        # Parsed timestamps are naive UTC; `timestamp` has the same binary layout as the
        # column's `timestamptz` (microseconds since 2000-01-01 UTC), without a zone check.
        return "timestamp"
    if isinstance(column.type, sa.BigInteger):  # before Integer: it is one
        return "int8"
    return "int4" if isinstance(column.type, sa.Integer) else "text"


_BINARY_TYPES = [_binary_copy_type(cdrs_in.c[name]) for name in INBOUND_NAMES]


def _postgres_insert(conn: sa.Connection, account_id: int, batches: Batches) -> int:
    total = 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    # Binary COPY: the fastest way in, and it spares the client formatting every value
    # as text, which matters because parsing the file already keeps this process busy.
    statement = f"COPY {cdrs_in.name} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(_BINARY_TYPES)
            for batch in batches:
                for record in batch:
                    copy.write_row((account_id, *record))
                total += len(batch)
    except driver_error as error:
        # Raised past SQLAlchemy: give callers the error it would have raised, so that
        # the same except clause serves both backends.
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error) from error
    return total


def _sqlite_insert(conn: sa.Connection, account_id: int, batches: Batches) -> int:
    total = 0
    # The account is the same for every row: a literal (an int) spares a tuple per row.
    marks = ", ".join("?" * len(INBOUND_FIELDS))
    sql = f"INSERT INTO {cdrs_in.name} ({_COLUMNS}) VALUES ({account_id}, {marks})"
    for batch in batches:
        conn.exec_driver_sql(sql, batch)
        total += len(batch)
    return total


_INSERTERS: dict[str, Callable[[sa.Connection, int, Batches], int]] = {
    "postgresql": _postgres_insert,
    "sqlite": _sqlite_insert,
}


def count_inbound(db: Database, account_id: int) -> int:
    query = sa.select(sa.func.count()).where(cdrs_in.c.account_id == account_id)
    with db.read() as conn:
        return conn.execute(query).scalar_one()

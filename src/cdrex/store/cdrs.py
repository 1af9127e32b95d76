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
    them) atomically: all of them or, on error, none."""
    return _INSERTERS[db.engine.dialect.name](db, int(account_id), batches)


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


def _postgres_insert(db: Database, account_id: int, batches: Batches) -> int:
    with db.write() as conn:
        return _copy_in(conn, account_id, batches)


def _copy_in(conn: sa.Connection, account_id: int, batches: Batches) -> int:
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


_RECORD_COLUMNS = ", ".join(field.name for field in INBOUND_FIELDS)


def _sqlite_insert(db: Database, account_id: int, batches: Batches) -> int:
    """Stage the rows in a TEMP table, then copy them in one short write transaction.

    SQLite has one write lock per database file, and the temp database has its own: a
    long import parses and stages without holding the lock the API and the workers need,
    and holds it only for the final INSERT ... SELECT, which runs at SQLite's own speed.
    A bad row stops the import before anything reaches cdrs_in.
    """
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection  # autocommit: we issue BEGIN ourselves
        raw.execute(f"CREATE TEMP TABLE import_staging ({_RECORD_COLUMNS})")
        try:
            total = _stage(raw, batches)
            raw.execute("BEGIN IMMEDIATE")
            try:
                raw.execute(  # ORDER BY rowid: file order is insertion order (export ties)
                    f"INSERT INTO main.{cdrs_in.name} ({_COLUMNS}) SELECT {account_id}, "
                    f"{_RECORD_COLUMNS} FROM temp.import_staging ORDER BY rowid"
                )
                raw.execute("COMMIT")
            except BaseException:
                raw.execute("ROLLBACK")
                raise
        finally:
            raw.execute("DROP TABLE temp.import_staging")
    return total


def _stage(raw: sqlite3.Connection, batches: Batches) -> int:
    total = 0
    marks = ", ".join("?" * len(INBOUND_FIELDS))
    raw.execute("BEGIN")  # one transaction for all batches: no journal sync per batch
    try:
        for batch in batches:
            raw.executemany(f"INSERT INTO temp.import_staging VALUES ({marks})", batch)
            total += len(batch)
    finally:
        raw.execute("COMMIT")  # temp data only; it is dropped on error
    return total


_INSERTERS: dict[str, Callable[[Database, int, Batches], int]] = {
    "postgresql": _postgres_insert,
    "sqlite": _sqlite_insert,
}


def count_inbound(db: Database, account_id: int) -> int:
    query = sa.select(sa.func.count()).where(cdrs_in.c.account_id == account_id)
    with db.read() as conn:
        return conn.execute(query).scalar_one()

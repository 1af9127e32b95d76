"""CDR rows: bulk insert (the import path) and counting.

Bulk insert is the import's bottleneck, so it skips SQLAlchemy's per-row work and speaks
to the driver: COPY on PostgreSQL, executemany of the record tuples on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from cdrex.cdrs.records import RECORD_FIELDS
from cdrex.store.db import Database
from cdrex.store.schema import CDR_TABLES

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


def insert_cdrs(db: Database, account_id: int, batches: Batches, kind: str = "cdr_in") -> int:
    """Insert batches of parsed records of ``kind`` (``cdr_in``, ``cdr_out``; naive UTC
    timestamps, as cdrex.cdrs.records makes them) atomically: all of them or none."""
    return _INSERTERS[db.engine.dialect.name](db, _Target(kind), int(account_id), batches)


class _Target:
    """The table records of one kind go to, and how the insert names its columns."""

    def __init__(self, kind: str) -> None:
        self.table = CDR_TABLES[kind].name
        self.fields = RECORD_FIELDS[kind]
        self.record_columns = ", ".join(field.name for field in self.fields)
        self.columns = f"account_id, {self.record_columns}"
        self.binary_types = [
            _binary_copy_type(CDR_TABLES[kind].c[name])
            for name in ("account_id", *(field.name for field in self.fields))
        ]


def _binary_copy_type(column: sa.Column) -> str:
    """The PostgreSQL type binary COPY sends a column's values as; it must match exactly."""
    if isinstance(column.type, sa.DateTime):
        # Parsed timestamps are naive UTC; `timestamp` has the same binary layout as the
        # column's `timestamptz` (microseconds since 2000-01-01 UTC), without a zone check.
        return "timestamp"
    if isinstance(column.type, sa.BigInteger):  # before Integer: it is one
        return "int8"
    return "int4" if isinstance(column.type, sa.Integer) else "text"


def _postgres_insert(db: Database, target: _Target, account_id: int, batches: Batches) -> int:
    with db.write() as conn:
        return _copy_in(conn, target, account_id, batches)


def _copy_in(conn: sa.Connection, target: _Target, account_id: int, batches: Batches) -> int:
    total = 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    # Binary COPY: the fastest way in, and it spares the client formatting every value
    # as text, which matters because parsing the file already keeps this process busy.
    statement = f"COPY {target.table} ({target.columns}) FROM STDIN (FORMAT BINARY)"
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(target.binary_types)
            for batch in batches:
                for record in batch:
                    copy.write_row((account_id, *record))
                total += len(batch)
    except driver_error as error:
        # Raised past SQLAlchemy: give callers the error it would have raised, so that
        # the same except clause serves both backends.
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error) from error
    return total


def _sqlite_insert(db: Database, target: _Target, account_id: int, batches: Batches) -> int:
    """Stage the rows in a TEMP table, then copy them in one short write transaction.

    SQLite has one write lock per database file, and the temp database has its own: a
    long import parses and stages without holding the lock the API and the workers need,
    and holds it only for the final INSERT ... SELECT, which runs at SQLite's own speed.
    A bad row stops the import before anything reaches the CDR table.
    """
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection  # autocommit: we issue BEGIN ourselves
        raw.execute(f"CREATE TEMP TABLE import_staging ({target.record_columns})")
        try:
            total = _stage(raw, len(target.fields), batches)
            raw.execute("BEGIN IMMEDIATE")
            try:
                raw.execute(  # ORDER BY rowid: file order is insertion order (export ties)
                    f"INSERT INTO main.{target.table} ({target.columns}) SELECT {account_id}, "
                    f"{target.record_columns} FROM temp.import_staging ORDER BY rowid"
                )
                raw.execute("COMMIT")
            except BaseException:
                raw.execute("ROLLBACK")
                raise
        finally:
            raw.execute("DROP TABLE temp.import_staging")
    return total


def _stage(raw: sqlite3.Connection, width: int, batches: Batches) -> int:
    total = 0
    marks = ", ".join("?" * width)
    raw.execute("BEGIN")  # one transaction for all batches: no journal sync per batch
    try:
        for batch in batches:
            raw.executemany(f"INSERT INTO temp.import_staging VALUES ({marks})", batch)
            total += len(batch)
    finally:
        raw.execute("COMMIT")  # temp data only; it is dropped on error
    return total


_INSERTERS: dict[str, Callable[[Database, _Target, int, Batches], int]] = {
    "postgresql": _postgres_insert,
    "sqlite": _sqlite_insert,
}


def count_cdrs(db: Database, account_id: int, kind: str = "cdr_in") -> int:
    table = CDR_TABLES[kind]
    query = sa.select(sa.func.count()).where(table.c.account_id == account_id)
    with db.read() as conn:
        return conn.execute(query).scalar_one()

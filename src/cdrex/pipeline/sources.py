"""Where export CSV comes from: the database renders every line itself.

No CDR becomes a Python object on this path. On PostgreSQL, ``COPY (SELECT ...) TO STDOUT
(FORMAT csv)`` does the rendering and quoting; on SQLite, one SQL expression per row builds
the same bytes (NULL as an empty field, an empty string as ``""``, quoting only where a
value holds a comma, a quote or a line break), so both backends write identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from cdrex.cdrs.records import Field, Kind
from cdrex.exports.formats import FileFormat
from cdrex.exports.model import CdrSelection
from cdrex.store.db import Database

Write = Callable[[bytes], object]
FETCH_ROWS = 5000

_NEEDS_QUOTES = '*[",\n\r]*'


def _sqlite_value(field: Field) -> str:
    name = field.name
    if field.kind is Kind.TIMESTAMP:
        return f"ifnull(substr({name}, 1, 19), '')"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
    if field.kind is Kind.INTEGER:
        return f"ifnull({name}, '')"
    if field.kind is Kind.AMOUNT:
        # millionths -> 3 decimals, rounded half away from zero, in integer arithmetic
        q = f"((abs({name}) + 500) / 1000)"
        sign = f"CASE WHEN {name} < 0 AND {q} > 0 THEN '-' ELSE '' END"
        return f"CASE WHEN {name} IS NULL THEN '' ELSE printf('%s%d.%03d', {sign}, {q} / 1000, {q} % 1000) END"  # noqa: E501
    return (
        f"CASE WHEN {name} IS NULL THEN '' WHEN {name} = '' THEN '\"\"' "
        f"WHEN {name} GLOB '{_NEEDS_QUOTES}' THEN '\"' || replace({name}, '\"', '\"\"') || '\"' "
        f"ELSE {name} END"
    )


def _postgres_value(field: Field) -> str:
    name = field.name
    if field.kind is Kind.TIMESTAMP:
        return f"to_char({name}, 'YYYY-MM-DD HH24:MI:SS')"  # the session time zone is UTC
    if field.kind is Kind.AMOUNT:
        return f"round({name}::numeric / 1000000, 3)"  # numeric rounds half away from zero
    return name


def _where(selection: CdrSelection, placeholder: Callable[[str], str]) -> str:
    clause = (
        f"account_id = {placeholder('account_id')} AND time_start >= {placeholder('start')}"
        f" AND time_start < {placeholder('end')}"
    )
    if selection.did_number is not None:
        clause += f" AND did_number = {placeholder('did_number')}"
    return clause


def _params(account_id: int, selection: CdrSelection, timestamp: Callable[[datetime], object]):
    return {
        "account_id": account_id,
        "start": timestamp(selection.start),
        "end": timestamp(selection.end),
        "did_number": selection.did_number,
    }


ORDER = "ORDER BY time_start DESC, id DESC"  # newest first, ties in insertion order


def sqlite_csv(
    conn: sa.Connection, table: str, fmt: FileFormat, account_id: int,
    selection: CdrSelection, write: Write,
) -> int:
    line = " || ',' || ".join(_sqlite_value(field) for field in fmt.column_fields())
    sql = f"SELECT {line} FROM {table} WHERE {_where(selection, lambda n: ':' + n)} {ORDER}"
    params = _params(
        account_id, selection, lambda t: t.replace(tzinfo=None).isoformat(" ", "microseconds")
    )
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(sql, params)
    rows = 0
    while batch := cursor.fetchmany(FETCH_ROWS):
        write(("\n".join([row[0] for row in batch]) + "\n").encode())
        rows += len(batch)
    return rows


def postgres_csv(
    conn: sa.Connection, table: str, fmt: FileFormat, account_id: int,
    selection: CdrSelection, write: Write,
) -> int:
    values = ", ".join(_postgres_value(field) for field in fmt.column_fields())
    where = _where(selection, lambda n: f"%({n})s")
    sql = f"COPY (SELECT {values} FROM {table} WHERE {where} {ORDER}) TO STDOUT (FORMAT csv)"
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(sql, _params(account_id, selection, lambda t: t)) as copy:
        for chunk in copy:
            write(chunk)
    return cursor.rowcount


SOURCES = {"sqlite": sqlite_csv, "postgresql": postgres_csv}


def write_csv_rows(
    db: Database, table: str, fmt: FileFormat, account_id: int, selection: CdrSelection,
    write: Write,
) -> int:
    """Write the selected CDRs as CSV lines (no header); return how many rows were written."""
    with db.read() as conn:
        return SOURCES[conn.dialect.name](conn, table, fmt, account_id, selection, write)

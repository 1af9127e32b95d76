"""Where export CSV comes from: the database renders every line itself.

No CDR becomes a Python object on this path. On PostgreSQL, ``COPY (SELECT ...) TO STDOUT
(FORMAT csv)`` does the rendering and quoting; on SQLite, SQL expressions build the same
bytes (NULL as an empty field, an empty string as ``""``, quoting only where a value holds
a comma, a quote or a line break), so both backends write identical files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from functools import partial

import sqlalchemy as sa

from cdrex.cdrs.records import Field, Kind
from cdrex.exports.formats import FileFormat
from cdrex.exports.kinds import NARROWING_COLUMNS
from cdrex.exports.model import CdrSelection
from cdrex.store.backends import driver_connection, is_sqlite, sqlite_timestamp
from cdrex.store.cdrs import hide_unpublished
from cdrex.store.db import Database

Write = Callable[[bytes], object]
FETCH_ROWS = 5000
CHUNK_BYTES = 64 * 1024

# SQLite. Rendering is nearly all of an export's time, so each row takes one of two lines:
#
# - the general line renders any row: NULL as an empty field, '' as "", quotes where a
#   value holds a comma, a quote or a line break, amounts of either sign;
# - the fast line is one printf() of the raw values. It is right for a row whose amounts
#   are all >= 0 and whose text is never '' and holds none of those characters. SQL checks
#   the first two with plain comparisons; the characters are checked in Python, on whole
#   batches at once (str.count runs at memory speed, where four GLOBs per text field cost
#   SQLite about 2 s per million rows), and a row that fails gets its general line from a
#   second query by id.
#
# Both lines are one printf() each: a chain of || copied the growing line once per field,
# and printf's %s renders NULL as an empty field with no CASE for it.

_QUOTE_TRIGGERS = (",", '"', "\n", "\r")
_IN_CHUNK = 500  # ids per "id IN (...)" query, below SQLite's oldest parameter limit (999)

Row = tuple[int, str | None, str | None]  # id, fast line or None, general line or None


def _sqlite_text(name: str) -> str:
    # One GLOB per character: SQLite scans for a single literal with strcspn, while a
    # class like '*[",\n\r]*' is matched character by character, three times slower.
    needs_quotes = " OR ".join(f"{name} GLOB '*{char}*'" for char in _QUOTE_TRIGGERS)
    return (
        f"CASE WHEN {name} = '' THEN '\"\"' "
        f"WHEN {needs_quotes} THEN '\"' || replace({name}, '\"', '\"\"') || '\"' "
        f"ELSE {name} END"
    )


def _millis(magnitude: str) -> tuple[str, str]:
    """printf() arguments for '%d.%03d' of an amount's magnitude in millionths: whole units
    and thousandths, rounded half away from zero in integer arithmetic."""
    rounded = f"({magnitude} + 500)"
    return f"{rounded} / 1000000", f"{rounded} / 1000 % 1000"


def _sqlite_amount(name: str) -> str:
    """Millionths -> 3 decimals. Negative amounts that round to zero print as "0.000",
    as PostgreSQL's round() does."""
    positive, negative = ", ".join(_millis(name)), ", ".join(_millis(f"-{name}"))
    return (
        f"CASE WHEN {name} >= 0 THEN printf('%d.%03d', {positive}) "
        f"WHEN {name} > -500 THEN '0.000' "
        f"WHEN {name} < 0 THEN printf('-%d.%03d', {negative}) END"
    )


def _sqlite_value(field: Field) -> str:
    """One field's text in the general line, or NULL for an empty field."""
    if field.kind is Kind.TIMESTAMP:
        return f"substr({field.name}, 1, 19)"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
    if field.kind is Kind.INTEGER:
        return field.name
    if field.kind is Kind.AMOUNT:
        return _sqlite_amount(field.name)
    return _sqlite_text(field.name)


def _sqlite_line(fields: list[Field]) -> str:
    """The general line."""
    # printf() takes at most SQLITE_MAX_FUNCTION_ARG (127) arguments: ample for a CDR.
    template = ",".join(["%s"] * len(fields))
    return f"printf('{template}', {', '.join(_sqlite_value(field) for field in fields)})"


def _sqlite_fast_line(fields: list[Field]) -> str:
    """The fast line: right only where ``_sqlite_plain`` holds and no text needs quotes."""
    formats: list[str] = []
    arguments: list[str] = []
    for field in fields:
        if field.kind is Kind.AMOUNT:
            formats.append("%d.%03d")
            arguments += _millis(field.name)
        else:
            formats.append("%s")
            arguments.append(_sqlite_value(field) if field.kind is Kind.TIMESTAMP else field.name)
    return f"printf('{','.join(formats)}', {', '.join(arguments)})"


def _sqlite_plain(fields: list[Field]) -> str:
    """The SQL half of the fast line's condition (NULL amounts fail it, as they should)."""
    return " AND ".join(
        f"{field.name} >= 0" if field.kind is Kind.AMOUNT else f"{field.name} IS NOT ''"
        for field in fields
        if field.kind in (Kind.AMOUNT, Kind.TEXT)
    )


def _plain(text: str, lines: int, separators: int) -> bool:
    """True when ``lines`` fast lines joined by newlines hold no character needing quotes.

    Nothing but text fields can hold a comma, so a line needs quotes exactly when it has
    more commas than separators, or holds a quote or a line break.
    """
    return (
        text.count(",") == separators * lines
        and text.count("\n") == max(lines - 1, 0)
        and '"' not in text
        and "\r" not in text
    )


def _general_lines(
    driver: sqlite3.Connection, table: str, fields: list[Field], ids: list[int]
) -> dict[int, str]:
    """The general lines of some rows, by id."""
    sql = f"SELECT id, {_sqlite_line(fields)} FROM {table} WHERE id IN "
    lines: dict[int, str] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        lines.update(driver.execute(sql + f"({', '.join('?' * len(chunk))})", chunk))
    return lines


def _batch_csv(
    batch: list[Row], separators: int, general: Callable[[list[int]], dict[int, str]]
) -> str:
    """The batch's CSV lines: its fast lines if they pass the check, else general ones."""
    fast = [line for _, line, _ in batch if line is not None]
    text = "\n".join(fast)
    if _plain(text, len(fast), separators):
        if len(fast) == len(batch):
            return text + "\n"  # the common case: every row took the fast line
        # The query gives each row one of the two lines: where line is None, slow is not.
        return "\n".join([slow if line is None else line for _, line, slow in batch]) + "\n"  # type: ignore[misc]
    failed = [id_ for id_, line, _ in batch if line is not None and not _plain(line, 1, separators)]
    redone = general(failed)
    return (
        "\n".join([slow if line is None else redone.get(id_, line) for id_, line, slow in batch])  # type: ignore[misc]
        + "\n"
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
    for column, _ in selection.narrowing:
        # Spliced into the SQL: only the registry's column names may come this far.
        assert column in NARROWING_COLUMNS, column
        clause += f" AND {column} = {placeholder('match_' + column)}"
    return clause


def _params(
    account_id: int, selection: CdrSelection, timestamp: Callable[[datetime], object]
) -> dict[str, object]:
    return {
        "account_id": account_id,
        "start": timestamp(selection.start),
        "end": timestamp(selection.end),
        **{"match_" + column: value for column, value in selection.narrowing},
    }


ORDER = "ORDER BY time_start DESC, id"  # newest first, ties in insertion order


def sqlite_csv(
    conn: sa.Connection,
    table: str,
    fmt: FileFormat,
    account_id: int,
    selection: CdrSelection,
    write: Write,
) -> int:
    fields = fmt.column_fields()
    plain = _sqlite_plain(fields)
    driver = driver_connection(conn)
    # In this read transaction, as the rows: the imports it leaves out are those whose
    # rows it would see (see cdrex.store.cdrs).
    where = _where(selection, lambda n: ":" + n) + hide_unpublished(driver, table)
    sql = (
        f"SELECT id, CASE WHEN {plain} THEN {_sqlite_fast_line(fields)} END, "
        f"CASE WHEN {plain} THEN NULL ELSE {_sqlite_line(fields)} END "
        f"FROM {table} WHERE {where} {ORDER}"
    )
    params = _params(account_id, selection, sqlite_timestamp)
    driver = driver_connection(conn)
    # Closed however the copy ends: a query left unfinished (the file store full, a stop)
    # keeps its old snapshot open on the connection after ROLLBACK, and the next write
    # transaction on that pooled connection then fails at once with "database is locked".
    with closing(driver.cursor()) as cursor:
        cursor.execute(sql, params)
        general = partial(_general_lines, driver, table, fields)
        rows = 0
        while batch := cursor.fetchmany(FETCH_ROWS):
            write(_batch_csv(batch, len(fields) - 1, general).encode())
            rows += len(batch)
    return rows


def postgres_copy_statement(
    table: str, fmt: FileFormat, account_id: int, selection: CdrSelection
) -> tuple[str, dict[str, object]]:
    """The ``COPY (SELECT ...) TO STDOUT`` an export runs, and its psycopg parameters
    (public for the benchmarks, whose baseline is this very statement)."""
    values = ", ".join(_postgres_value(field) for field in fmt.column_fields())
    where = _where(selection, lambda n: f"%({n})s")
    sql = f"COPY (SELECT {values} FROM {table} WHERE {where} {ORDER}) TO STDOUT (FORMAT csv)"
    return sql, _params(account_id, selection, lambda t: t)


def postgres_csv(
    conn: sa.Connection,
    table: str,
    fmt: FileFormat,
    account_id: int,
    selection: CdrSelection,
    write: Write,
) -> int:
    sql, params = postgres_copy_statement(table, fmt, account_id, selection)
    cursor = driver_connection(conn).cursor()
    # COPY sends one message per row: joining them into larger chunks makes every later
    # stage (gzip, hashing, the sink) run once per 64 KiB rather than once per row.
    pending: list[bytes] = []
    size = 0
    with cursor.copy(sql, params) as copy:
        for row in copy:
            pending.append(row)
            size += len(row)
            if size >= CHUNK_BYTES:
                write(b"".join(pending))
                pending.clear()
                size = 0
    if pending:
        write(b"".join(pending))
    return cursor.rowcount


def write_csv_rows(
    db: Database,
    table: str,
    fmt: FileFormat,
    account_id: int,
    selection: CdrSelection,
    write: Write,
) -> int:
    """Write the selected CDRs as CSV lines (no header); return how many rows were written."""
    with db.read() as conn:
        source = sqlite_csv if is_sqlite(conn) else postgres_csv
        return source(conn, table, fmt, account_id, selection, write)

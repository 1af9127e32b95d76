"""CDR rows: bulk insert (the import path) and counting.

Bulk insert is the import's bottleneck, so it skips SQLAlchemy's per-row work and speaks
to the driver: COPY on PostgreSQL, executemany of the record tuples on SQLite.

Either way an import is all or nothing. On PostgreSQL it is one transaction, which no
reader or other writer waits for. SQLite has one write lock per database file, which the
API and the workers need too: there an import writes in short slices, each its own
transaction, and publishes them all at once at the end (see _SqliteImport).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cdrex.cdrs.identity import call_keys
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import ExportType
from cdrex.settings import Settings
from cdrex.store.backends import driver_connection
from cdrex.store.db import UNAVAILABLE_ERRORS, Database
from cdrex.store.schema import CDR_TABLES, cdr_imports

Batches = Iterable[list[tuple]]
DEFAULT_LEASE = timedelta(seconds=Settings.lease_seconds)

# SQLite: one slice holds the write lock for about SLICE_SECONDS (its size follows the rate
# the slice before it saw), then the lock stays free for PAUSE_SECONDS at least. SQLite's
# busy handler lets a writer that has waited a while try again only every 100 ms: with a
# shorter pause the import could take the lock back every time before it looks.
SLICE_SECONDS = 0.1
PAUSE_SECONDS = 0.15
FIRST_SLICE_ROWS = 10_000
IMPORT_CACHE_KIB = 64 * 1024
_CDR_TABLE_NAMES = frozenset(table.name for table in CDR_TABLES.values())


class ImportAbandoned(RuntimeError):
    """The import stopped renewing its lease for too long and is being discarded."""


class ImportBusy(RuntimeError):
    """Another import into the table had its turn for longer than this one could wait."""


@dataclass(frozen=True)
class Imported:
    rows: int  # stored
    duplicates: int  # already there (cdrex.cdrs.identity), or twice in the batches


def insert_cdrs(
    db: Database,
    batches: Batches,
    export_type: ExportType = ExportType.CDR_IN,
    lease: timedelta = DEFAULT_LEASE,
    turn_wait: float | None = None,
) -> Imported:
    """Insert batches of owned records, ``(account_id, *record)`` with the record of
    ``export_type``'s kind as cdrex.cdrs.records parses it (naive UTC timestamps),
    atomically: all of them or none. A record the account already has (the same call
    key and time_start) is counted as a duplicate and not stored again.

    ``lease``: on SQLite, an import not heard from for this long is taken for dead, and
    discarded (the import renews it every slice, a fraction of a second apart).
    ``turn_wait``: on SQLite, the seconds to wait for another import into the table to
    finish before giving up with ImportBusy (None: as long as it takes; the operator API
    cannot keep a request waiting that long).
    """
    target = _Target(export_type)
    keyed = _keyed(batches, call_keys(target.fields))
    if db.is_sqlite:
        return _sqlite_insert(db, target, keyed, lease, turn_wait)
    return _postgres_insert(db, target, keyed)


def _keyed(batches: Batches, key: Callable[[tuple], str]) -> Iterator[list[tuple]]:
    """Owned records with their call key last, as _Target.columns names them."""
    for batch in batches:
        yield [(*owned, key(owned[1:])) for owned in batch]


def owned_by(account_id: int, batches: Iterable[list[tuple]]) -> Iterator[list[tuple]]:
    """Records of one account as insert_cdrs takes them."""
    for batch in batches:
        yield [(account_id, *record) for record in batch]


class _Target:
    """The table records of one kind go to, and how the insert names its columns."""

    def __init__(self, export_type: ExportType) -> None:
        table = CDR_TABLES[export_type]
        self.table = table.name
        self.fields = KINDS[export_type].fields
        self.record_columns = ", ".join(field.name for field in self.fields)
        self.columns = f"account_id, {self.record_columns}, call_key"
        self.binary_types = [
            _binary_copy_type(table.c[name])
            for name in ("account_id", *(field.name for field in self.fields), "call_key")
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


def _postgres_insert(db: Database, target: _Target, batches: Batches) -> Imported:
    """COPY into a temporary table, then one INSERT that skips the calls already there:
    COPY itself cannot skip a row, and a unique violation would abort the whole import.
    Concurrent imports of the same calls take turns on the unique index's entries, so
    each call is stored by exactly one of them."""
    with db.write() as conn:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE import_rows ON COMMIT DROP AS SELECT {target.columns} "
            f"FROM {target.table} WITH NO DATA"
        )
        total = _copy_in(conn, target, "import_rows", batches)
        stored = conn.exec_driver_sql(
            f"INSERT INTO {target.table} ({target.columns}) SELECT {target.columns} "
            "FROM import_rows ON CONFLICT DO NOTHING"
        ).rowcount
    return Imported(stored, total - stored)


def _copy_in(conn: sa.Connection, target: _Target, table: str, batches: Batches) -> int:
    total = 0
    cursor = driver_connection(conn).cursor()
    # Binary COPY: the fastest way in, and it spares the client formatting every value
    # as text, which matters because parsing the file already keeps this process busy.
    statement = f"COPY {table} ({target.columns}) FROM STDIN (FORMAT BINARY)"
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(target.binary_types)
            for batch in batches:
                for record in batch:
                    copy.write_row(record)
                total += len(batch)
    except driver_error as error:
        # Raised past SQLAlchemy: give callers the error it would have raised, so that
        # the same except clause serves both backends.
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error) from error
    return total


def _sqlite_insert(
    db: Database, target: _Target, batches: Batches, lease: timedelta, turn_wait: float | None
) -> Imported:
    """Stage the rows in a TEMP table batch by batch, and copy what is staged into the CDR
    table in short slices as the reading goes on.

    The temp database has a lock of its own: parsing and staging take none that the API
    and the workers need. The slices run between batches once the pause after the last
    one is over, so the pauses other writers need cost the import nothing: it is reading.
    The copy runs at SQLite's own speed, faster than the parsing, so the slices stay short.
    """
    discard_abandoned_imports(db, datetime.now(UTC), lease)
    with db.engine.connect() as conn:
        raw = driver_connection(conn)  # autocommit: we issue BEGIN ourselves
        # The index on (account, time, id) takes a slice's rows all over the table: with
        # SQLite's default 2 MiB of page cache the copy slowed to a quarter as it grew.
        (pooled_cache,) = raw.execute("PRAGMA cache_size").fetchone()
        raw.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
        raw.execute(f"CREATE TEMP TABLE import_staging ({target.columns})")
        importing = _SqliteImport(raw, target, lease, turn_wait)
        try:
            staged = 0
            for batch in batches:
                staged += _stage(raw, batch)
                importing.copy_if_free(staged)
            importing.finish(staged)
        except BaseException:
            importing.discard()
            raise
        finally:
            raw.execute("DROP TABLE temp.import_staging")
            raw.execute(f"PRAGMA cache_size = {int(pooled_cache)}")  # the pool's again
    return Imported(importing.stored, staged - importing.stored)


def _stage(raw: sqlite3.Connection, batch: list[tuple]) -> int:
    """Add a batch to the staging table. A deferred BEGIN: writing temp data only, the
    transaction locks the temp database alone (BEGIN IMMEDIATE would take the main
    database's write lock too), and its commit syncs nothing."""
    if batch:
        marks = ", ".join("?" * len(batch[0]))
        raw.execute("BEGIN")
        try:
            raw.executemany(f"INSERT INTO temp.import_staging VALUES ({marks})", batch)
        finally:
            raw.execute("COMMIT")  # temp data only; the table is dropped on error
    return len(batch)


class _SqliteImport:
    """The copy of staged rows into the CDR table, in slices that each hold the write
    lock briefly (see SLICE_SECONDS).

    All or nothing, a kill -9 included. The first slice registers the import in
    cdr_imports, and every row carries that registration's id; exports and counts leave
    out the rows of every import still registered. Once all are copied, deleting the
    registration publishes all the rows at once. An import that fails part way (a bad
    row, the database, Ctrl-C) deletes its rows in slices, then its registration. A killed
    one stops renewing the lease each slice renews; once that has run out, the next import
    or the workers' sweep discards it the same way. Its rows are invisible until then. (An
    input slower than the lease between two batches is taken for dead too: the import
    then stops with ImportAbandoned; CDREX_LEASE_SECONDS is the remedy.)

    Imports into one table take turns: a call an unpublished import holds would make
    another skip it as a duplicate, and be lost if the first were then discarded.
    """

    def __init__(
        self, raw: sqlite3.Connection, target: _Target, lease: timedelta, turn_wait: float | None
    ) -> None:
        self.raw = raw
        self.target = target
        self.lease = lease
        self.turn_wait = turn_wait
        self.slices = _Slices(raw)
        self.import_id: int | None = None
        self.copied = 0  # staged rows (rowids 1 to copied) copied so far
        self.stored = 0  # of which the table did not have already

    def copy_if_free(self, staged: int) -> None:
        """One slice of what is staged and not copied, if the last pause is over."""
        if staged > self.copied and self.slices.free():
            self._copy_slice(staged)

    def finish(self, staged: int) -> None:
        """Copy the rest, then publish every row at once."""
        while self.copied < staged:
            self._copy_slice(staged)
        if self.import_id is not None:
            with _immediate(self.raw):
                self._renew()  # not discarded meanwhile: then nothing may be published
                self.raw.execute("DELETE FROM cdr_imports WHERE id = ?", (self.import_id,))

    def discard(self) -> None:
        """Delete what this import wrote. Should the database fail that too, the rows stay
        invisible until the lease runs out and a later cleanup deletes them."""
        if self.import_id is not None:
            with suppress(*UNAVAILABLE_ERRORS):
                _discard(self.raw, self.import_id)

    def _copy_slice(self, staged: int) -> None:
        if self.import_id is None:
            self._wait_turn()
        size = min(self.slices.size, staged - self.copied)
        with self.slices.transaction(size):
            self._renew()
            self.stored += self.raw.execute(  # ORDER BY rowid: file order is insertion order
                f"INSERT INTO main.{self.target.table} ({self.target.columns}, "
                f"import_id) SELECT {self.target.columns}, "
                f"{self.import_id} FROM temp.import_staging "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid ON CONFLICT DO NOTHING",
                (self.copied, self.copied + size),
            ).rowcount
        self.copied += size

    def _wait_turn(self) -> None:
        """Register the import once no other into the table is registered, discarding
        those whose lease ran out (their process died) while it waits; ImportBusy once
        ``turn_wait`` has passed."""
        give_up = None if self.turn_wait is None else time.monotonic() + self.turn_wait
        while True:
            with _immediate(self.raw):
                if not self.raw.execute(
                    "SELECT 1 FROM cdr_imports WHERE cdr_table = ?", (self.target.table,)
                ).fetchone():
                    # Its rows get ids from here up: no other import writes to the table.
                    self.import_id = self.raw.execute(
                        "INSERT INTO cdr_imports (cdr_table, status, renewed_at, first_row_id) "
                        "SELECT ?, 'copying', ?, coalesce(max(id), 0) + 1 "
                        f"FROM {self.target.table}",
                        (self.target.table, datetime.now(UTC)),
                    ).lastrowid
                    return
            _discard_stale(self.raw, datetime.now(UTC) - self.lease)
            if give_up is not None and time.monotonic() >= give_up:
                raise ImportBusy(f"another import into {self.target.table} is running")
            time.sleep(PAUSE_SECONDS)

    def _renew(self) -> None:
        if (
            self.raw.execute(
                "UPDATE cdr_imports SET renewed_at = ? WHERE id = ? AND status = 'copying'",
                (datetime.now(UTC), self.import_id),
            ).rowcount
            != 1
        ):
            raise ImportAbandoned(
                f"the import stalled for longer than its lease (import "
                f"{self.import_id}) and was discarded"
            )


class _Slices:
    """Paces a run of write transactions on one connection (see SLICE_SECONDS)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self.size = FIRST_SLICE_ROWS  # rows for the next slice
        self._free_until = 0.0

    def free(self) -> bool:
        """Whether the pause after the last transaction is over."""
        return time.monotonic() >= self._free_until

    @contextmanager
    def transaction(self, rows: int) -> Iterator[None]:
        """A write transaction for a slice of ``rows`` rows, after the pause."""
        time.sleep(max(0.0, self._free_until - time.monotonic()))
        with _immediate(self.raw):
            locked = time.monotonic()
            yield
        held = time.monotonic() - locked
        self._free_until = time.monotonic() + PAUSE_SECONDS
        # The rate just seen sets the next size; halving or doubling at most, so that one
        # slow commit (a checkpoint, a busy machine) does not shrink the slices to nothing.
        wanted = rows * SLICE_SECONDS / max(held, 0.001)
        self.size = max(1, int(min(max(wanted, self.size / 2), self.size * 2)))


@contextmanager
def _immediate(raw: sqlite3.Connection) -> Iterator[None]:
    raw.execute("BEGIN IMMEDIATE")
    try:
        yield
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise


def _discard(raw: sqlite3.Connection, import_id: int, stale_before: datetime | None = None) -> bool:
    """Delete an import's rows in slices, then its registration. With ``stale_before``,
    only an import whose lease ran out before then: False when it did not (or is gone).

    Marked "discarding" first, so that the import, should it be alive after all, writes
    nothing more and cannot publish. Deleting twice at once is harmless.
    """
    with _immediate(raw):
        claim = "UPDATE cdr_imports SET status = 'discarding', renewed_at = ? WHERE id = ?"
        params: tuple = (datetime.now(UTC), import_id)
        if stale_before is not None:
            claim, params = claim + " AND renewed_at < ?", (*params, stale_before)
        if raw.execute(claim, params).rowcount != 1:
            return False
        table, first = raw.execute(
            "SELECT cdr_table, first_row_id FROM cdr_imports WHERE id = ?", (import_id,)
        ).fetchone()
        assert table in _CDR_TABLE_NAMES, table
        (last,) = raw.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
    slices = _Slices(raw)
    while first <= last:  # by id range: other imports' rows may lie in between
        width = slices.size
        with slices.transaction(width):
            raw.execute(
                f"DELETE FROM {table} WHERE id >= ? AND id < ? AND import_id = ?",
                (first, first + width, import_id),
            )
        first += width
    with _immediate(raw):
        raw.execute("DELETE FROM cdr_imports WHERE id = ?", (import_id,))
    return True


def discard_abandoned_imports(db: Database, now: datetime, lease: timedelta) -> int:
    """Discard the SQLite imports whose lease ran out before ``now`` (their process died or
    stalled): their rows were never visible, and now they are gone. Returns how many."""
    if not db.is_sqlite:
        return 0
    with db.engine.connect() as conn:
        return _discard_stale(driver_connection(conn), now - lease)


def _discard_stale(raw: sqlite3.Connection, stale_before: datetime) -> int:
    stale = [
        row[0]
        for row in raw.execute("SELECT id FROM cdr_imports WHERE renewed_at < ?", (stale_before,))
    ]
    return sum(_discard(raw, import_id, stale_before) for import_id in stale)


def hide_unpublished(raw: sqlite3.Connection, table: str) -> str:
    """The SQL condition (`` AND ...``, or nothing) that leaves out the rows of imports into
    ``table`` not published yet (an import may hold several accounts' rows). Read in the
    same transaction as the rows."""
    hidden = [
        str(row[0])
        for row in raw.execute("SELECT id FROM cdr_imports WHERE cdr_table = ?", (table,))
    ]
    if not hidden:
        return ""
    return f" AND (import_id IS NULL OR import_id NOT IN ({', '.join(hidden)}))"


def count_cdrs(db: Database, account_id: int, export_type: ExportType = ExportType.CDR_IN) -> int:
    """The account's published CDRs of ``export_type``."""
    table = CDR_TABLES[export_type]
    published = sa.or_(
        table.c.import_id.is_(None), table.c.import_id.not_in(sa.select(cdr_imports.c.id))
    )
    query = sa.select(sa.func.count()).where(table.c.account_id == account_id, published)
    with db.read() as conn:
        return conn.execute(query).scalar_one()

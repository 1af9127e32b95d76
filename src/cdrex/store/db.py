"""The database handle: an engine plus read and write transactions that work on both backends."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

from cdrex.settings import Settings
from cdrex.store.backends import driver_connection

# Errors that mean the database cannot answer right now (down, restarting, locked for
# longer than the write wait, no pooled connection free in time): callers should retry
# later, it is not a bug.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,  # the pool's: every connection in use for pool_timeout
    sqlite3.OperationalError,
    psycopg.OperationalError,  # from raw driver connections, which SQLAlchemy does not wrap
    psycopg.InterfaceError,
)


# When the writes of the current context stop waiting for SQLite's write lock (a
# time.monotonic() value); unset: each waits the database's write wait (see write_deadline).
_write_deadline: ContextVar[float | None] = ContextVar("cdrex_write_deadline", default=None)


@contextmanager
def write_deadline(deadline: float) -> Iterator[None]:
    """Writes made in this block give up waiting for SQLite's write lock at ``deadline``
    (``time.monotonic()``) instead of after the usual write wait: an API request's whole
    wait, its turn for a thread included, then stays within one write wait."""
    token = _write_deadline.set(deadline)
    try:
        yield
    finally:
        _write_deadline.reset(token)


class Database:
    def __init__(self, url: str, write_wait_seconds: float = Settings.write_wait_seconds) -> None:
        self.url = sa.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.write_wait_seconds = write_wait_seconds
        if self.is_sqlite:
            # Two pools: a read never queues for a connection behind writes that wait for
            # the write lock (in WAL mode reads themselves never wait for it).
            self.engine = _sqlite_engine(self.url, write_wait_seconds)
            self.read_engine = _sqlite_engine(self.url, write_wait_seconds)
        else:
            self.engine = self.read_engine = sa.create_engine(
                self.url.set(drivername="postgresql+psycopg"),
                pool_pre_ping=True,
                connect_args={"options": "-c timezone=UTC"},
            )

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.read_engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that will write: on SQLite it takes the write lock up front.

        A deferred SQLite transaction that later writes can fail with SQLITE_BUSY at once
        instead of waiting; BEGIN IMMEDIATE waits (busy_timeout) for the lock instead, for
        the write wait at most, or until the context's write_deadline. Then it fails with
        "database is locked", one of the UNAVAILABLE_ERRORS.
        """
        with self.engine.connect() as conn:
            conn.info["begin"] = "BEGIN IMMEDIATE"
            try:
                with self._waiting_until_deadline(conn), conn.begin():
                    yield conn
            finally:
                conn.info.pop("begin", None)

    @contextmanager
    def _waiting_until_deadline(self, conn: sa.Connection) -> Iterator[None]:
        """The busy timeout the context's write deadline leaves, for one transaction;
        every pooled connection waits the write wait otherwise."""
        deadline = _write_deadline.get()
        if not self.is_sqlite or deadline is None:
            yield
            return
        driver = driver_connection(conn)  # outside SQLAlchemy: no transaction begins
        left = max(0.0, deadline - time.monotonic())  # none left: one try, no wait
        driver.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
        try:
            yield
        finally:
            driver.execute(f"PRAGMA busy_timeout = {int(self.write_wait_seconds * 1000)}")

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def _sqlite_engine(url: sa.URL, wait_seconds: float) -> sa.Engine:
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # No limit on connections (max_overflow=-1): a SQLite connection is a file handle, and
    # the threads using them are few and bounded (the API's write threads, the workers);
    # a bounded pool would make a thread that only reads wait for writers to return
    # theirs, and give up with "QueuePool limit ... reached".
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False}, pool_size=5, max_overflow=-1
    )
    busy_ms = int(wait_seconds * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see Database.write)
        for pragma in (
            f"busy_timeout={busy_ms}",  # first: switching a new file to WAL may wait for a lock
            "journal_mode=WAL",  # readers never block the writer
            "synchronous=NORMAL",  # durable against process crashes, fast in WAL mode
            "foreign_keys=ON",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(conn.info.get("begin", "BEGIN"))

    return engine

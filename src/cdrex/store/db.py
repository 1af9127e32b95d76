"""The database handle: an engine plus read and write transactions that work on both backends."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

# Errors that mean the database cannot answer right now (down, restarting, locked for
# longer than the busy timeout): callers should retry later, it is not a bug.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sqlite3.OperationalError,
    psycopg.OperationalError,  # from raw driver connections, which SQLAlchemy does not wrap
    psycopg.InterfaceError,
)


class Database:
    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url)
        else:
            self.engine = sa.create_engine(
                self.url.set(drivername="postgresql+psycopg"),
                pool_pre_ping=True,
                connect_args={"options": "-c timezone=UTC"},
            )

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that will write: on SQLite it takes the write lock up front.

        A deferred SQLite transaction that later writes can fail with SQLITE_BUSY at once
        instead of waiting; BEGIN IMMEDIATE waits (busy_timeout) for the lock instead.
        """
        with self.engine.connect() as conn:
            conn.info["begin"] = "BEGIN IMMEDIATE"
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("begin", None)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see Database.write)
        for pragma in (
            "busy_timeout=30000",  # first: switching a new file to WAL may wait for a lock
            "journal_mode=WAL",  # readers never block the writer
            "synchronous=NORMAL",  # durable against process crashes, fast in WAL mode
            "foreign_keys=ON",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(conn.info.get("begin", "BEGIN"))

    return engine

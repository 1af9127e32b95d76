"""The reads every API request makes, on a SQLite connection of the API process's own.

Each request checks its API key, and a cached response (cdrex.api.context.ResponseCache)
is only served after checking that nothing was committed since it was made. Through the
pool each read cost about 25 us, on one driver connection kept for them a few.

The connection only ever reads: ``PRAGMA data_version`` changes for commits made by every
connection, in this process or any other, except the one reading it. Every statement runs
in autocommit, so each sees the newest committed data (a revoked key is refused at once).
"""

from __future__ import annotations

import sqlite3

from cdrex.store.accounts import Account, account_for_key_on
from cdrex.store.db import Database


class SqliteReader:
    def __init__(self, path: str, db: Database) -> None:
        self._dialect = db.engine.dialect
        # Not tied to a thread: the API uses it from its event loop only, but a server
        # may run that loop on a thread other than the one that built the app.
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def data_version(self) -> int:
        """A number that changes whenever anyone commits to the database."""
        return self._connection.execute("PRAGMA data_version").fetchone()[0]

    def account_for_key(self, key: str) -> Account | None:
        return account_for_key_on(self._connection, self._dialect, key)


def sqlite_reader(db: Database) -> SqliteReader | None:
    """A reader for a SQLite database file; None for PostgreSQL and in-memory SQLite."""
    database = db.url.database
    if not db.is_sqlite or not database or database == ":memory:":
        return None
    if database.startswith("file:") or db.url.query:  # URI forms: maybe shared memory
        return None
    return SqliteReader(database, db)

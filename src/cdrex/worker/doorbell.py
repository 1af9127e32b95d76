"""How an idle worker learns that an export is waiting, sooner than its next poll.

In one process (the embedded default) the API rings a threading.Event. Across processes
on PostgreSQL, creating or releasing an export sends ``NOTIFY cdrex_exports`` in the same
transaction, and each worker process LISTENs on its own connection.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import psycopg

from cdrex.store.db import UNAVAILABLE_ERRORS
from cdrex.store.export_queue import NOTIFY_CHANNEL

log = logging.getLogger("cdrex.worker")

# Waits are cut into slices this long so that a stop request is seen promptly even when
# nothing rings: a signal handler cannot interrupt a wait on a socket.
_SLICE_SECONDS = 0.25


class Doorbell(Protocol):
    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return when rung, when ``stop`` is set, or after ``timeout`` seconds."""
        ...


class EventDoorbell:
    """In-process: the API thread calls ``ring`` after creating an export."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def ring(self) -> None:
        self.event.set()

    def wait(self, timeout: float, stop: threading.Event) -> None:
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.event.wait(min(left, _SLICE_SECONDS)):
                self.event.clear()
                return


class PostgresDoorbell:
    """LISTEN on a connection of its own; reconnects after the database comes back."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn: psycopg.Connection | None = None

    def wait(self, timeout: float, stop: threading.Event) -> None:
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.conn is None:
                if self._connect():
                    return  # notifications sent while not listening are lost: look now
                stop.wait(min(left, 1.0))
                continue
            try:
                for _ in self.conn.notifies(timeout=min(left, _SLICE_SECONDS), stop_after=1):
                    return
            except UNAVAILABLE_ERRORS as error:
                log.warning("lost the LISTEN connection: %s", str(error).strip())
                self.close()

    def _connect(self) -> bool:
        try:
            self.conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except UNAVAILABLE_ERRORS:
            self.close()
            return False
        return True

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

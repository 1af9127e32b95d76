"""One worker's loop: claim the next export, keep its lease alive, build it, finish it."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cdrex.exports.model import Export
from cdrex.pipeline.build import BuildStopped, build_export_file
from cdrex.pipeline.file_store import FileStore
from cdrex.settings import Settings
from cdrex.store import export_queue
from cdrex.store.db import UNAVAILABLE_ERRORS, Database
from cdrex.worker.doorbell import Doorbell
from cdrex.worker.retry import Limits, Retry, decide

T = TypeVar("T")
log = logging.getLogger("cdrex.worker")


def now() -> datetime:
    return datetime.now(UTC)


class ExportWorker:
    def __init__(self, db: Database, files: FileStore, settings: Settings) -> None:
        self.db = db
        self.files = files
        self.settings = settings
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.limits = Limits(settings.max_attempts)
        # host:pid:random. The pid tells an operator (and the tests) which process holds a job.
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run(self, stop: threading.Event, doorbell: Doorbell) -> None:
        """Work until ``stop`` is set; while idle, wait for the doorbell or the poll interval.

        Setting ``stop`` also stops a build in progress: its export goes back to pending,
        the attempt not counted, for another worker to take at once.
        """
        while not stop.is_set():
            try:
                worked = self.run_once(stop)
            except UNAVAILABLE_ERRORS as error:  # the database is down: wait, then retry
                log.warning("worker %s: database unavailable: %s", self.name, _brief(error))
                worked = False
            except Exception:
                log.exception("worker %s: unexpected error; retrying shortly", self.name)
                worked = False
            if not worked:
                doorbell.wait(self.settings.poll_seconds, stop)

    def run_once(self, stop: threading.Event | None = None) -> bool:
        stop = stop or threading.Event()
        export = export_queue.claim_next_export(
            self.db, self.name, now(), self.lease, self.settings.max_attempts
        )
        if export is None:
            return False
        log.info(
            "worker %s: building export %s (attempt %d)", self.name, export.id, export.attempts
        )
        try:
            with self._keep_lease(export):
                built = build_export_file(
                    self.db,
                    self.files,
                    export,
                    gzip_level=self.settings.gzip_level,
                    slices=self.settings.export_slices,
                    stop=stop,
                )
        except BuildStopped:
            log.info("worker %s: stopping; export %s goes back to pending", self.name, export.id)
            self._give_back(export, stop)
            return True
        except Exception as error:
            failed_at = now()
            decision = decide(
                error, export.attempts, failed_at, self.limits, self._database_answers
            )
            # Never GiveUp for a build: the next claim counts the attempts (see worker.retry).
            assert isinstance(decision, Retry)
            if decision.count_attempt:
                log.exception("worker %s: export %s failed", self.name, export.id)
                export_queue.release_export(self.db, export.id, self.name, decision.reason)
                return True
            # An outage: one line each time (no traceback: the cause is known), and a pause
            # before the next claim, so a store that stays full neither floods nor spins.
            pause = (decision.at - failed_at).total_seconds()
            log.warning(
                "worker %s: %s (%s); export %s goes back to pending, next claim in %.1f s",
                self.name,
                decision.reason,
                _brief(error),
                export.id,
                pause,
            )
            self._give_back(export, stop, decision.reason)
            stop.wait(pause)
            return False
        finished = self._retrying(
            "complete",
            export,
            stop,
            lambda: export_queue.complete_export(
                self.db, export.id, self.name, now(), built.row_count, built.byte_size, built.sha256
            ),
        )
        if finished:
            log.info(
                "worker %s: export %s completed, %d rows", self.name, export.id, built.row_count
            )
        elif finished is not None:
            log.warning("worker %s: lost the lease on export %s", self.name, export.id)
        return True

    def _database_answers(self) -> bool:
        try:
            with self.db.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except UNAVAILABLE_ERRORS:
            return False
        return True

    def _give_back(self, export: Export, stop: threading.Event, reason: str | None = None) -> None:
        """Release the export without counting the attempt (recording ``reason`` as its last
        error, if given)."""
        self._retrying(
            "give back",
            export,
            stop,
            lambda: export_queue.release_export(
                self.db, export.id, self.name, reason, count_attempt=False
            ),
        )

    def _retrying(
        self, what: str, export: Export, stop: threading.Event, write: Callable[[], T]
    ) -> T | None:
        """``write()``, tried again every second while the database is down or its write
        lock busy (an import, another process). Once the lease has run out there is no
        point: another worker may own the export. None when it never got through."""
        deadline = now() + self.lease
        while True:
            try:
                return write()
            except UNAVAILABLE_ERRORS as error:
                if now() >= deadline or stop.is_set():
                    log.warning(
                        "worker %s: could not %s export %s (%s); its lease will run out",
                        self.name,
                        what,
                        export.id,
                        _brief(error),
                    )
                    return None
            stop.wait(1.0)

    @contextmanager
    def _keep_lease(self, export: Export) -> Iterator[None]:
        """Renew the lease in the background while the file is built."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.settings.lease_seconds / 3):
                try:
                    until = now() + self.lease
                    export_queue.renew_export_lease(self.db, export.id, self.name, until)
                except UNAVAILABLE_ERRORS as error:
                    log.warning("worker %s: could not renew lease: %s", self.name, _brief(error))
                except Exception:
                    log.exception("worker %s: could not renew lease", self.name)

        renewer = threading.Thread(target=renew, name=f"lease-{export.id[:8]}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()


def _brief(error: BaseException) -> str:
    """The first line of a driver error (the rest repeats SQL and links to docs)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__

"""In-process workers for the embedded default: N worker threads, one sweeper thread and
the callback senders."""

from __future__ import annotations

import threading

from cdrex.pipeline.file_store import FileStore
from cdrex.settings import Settings
from cdrex.store.db import Database
from cdrex.worker.callback_senders import start_senders
from cdrex.worker.doorbell import Doorbell, EventDoorbell, PostgresDoorbell
from cdrex.worker.jobs import ExportWorker
from cdrex.worker.sweep import run_sweeper


def doorbell_for(db: Database) -> Doorbell:
    """What a worker process sleeps on: NOTIFY on PostgreSQL; on SQLite, which has no
    notifications, a doorbell nobody rings, so it polls."""
    if db.is_sqlite:
        return EventDoorbell()
    return PostgresDoorbell(db.url.set(drivername="postgresql").render_as_string(False))


class WorkerThreads:
    def __init__(self, db: Database, files: FileStore, settings: Settings, count: int) -> None:
        self.stop = threading.Event()
        self.db, self.settings = db, settings
        self.doorbell = EventDoorbell()  # rung by this process's API after a create
        # On PostgreSQL each thread LISTENs too: exports created through other API
        # processes wake it as well (NOTIFY also reaches this process's own listeners).
        self.threads = [
            threading.Thread(
                target=ExportWorker(db, files, settings).run,
                args=(self.stop, self.doorbell if db.is_sqlite else doorbell_for(db)),
                name=f"export-worker-{n}",
                daemon=True,
            )
            for n in range(count)
        ]
        if count:
            self.threads.append(
                threading.Thread(
                    target=run_sweeper,
                    args=(db, files, settings, self.stop),
                    name="sweeper",
                    daemon=True,
                )
            )

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        if self.threads:  # API-only processes (--workers 0) owe no callbacks either
            self.threads += start_senders(self.db, self.settings, self.stop)

    def notify(self) -> None:
        self.doorbell.ring()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)

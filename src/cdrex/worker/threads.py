"""In-process workers for the embedded default: N worker threads and one sweeper thread."""

from __future__ import annotations

import threading

from cdrex.pipeline.sinks import LocalFiles
from cdrex.settings import Settings
from cdrex.store.db import Database
from cdrex.worker.jobs import ExportWorker
from cdrex.worker.sweep import run_sweeper


class WorkerThreads:
    def __init__(self, db: Database, files: LocalFiles, settings: Settings, count: int) -> None:
        self.stop = threading.Event()
        self.wake = threading.Event()  # set when an export is created: idle workers start now
        self.threads = [
            threading.Thread(
                target=ExportWorker(db, files, settings).run,
                args=(self.stop, self.wake),
                name=f"export-worker-{n}",
                daemon=True,
            )
            for n in range(count)
        ]
        if count:
            self.threads.append(
                threading.Thread(
                    target=run_sweeper, args=(db, files, settings, self.stop), name="sweeper",
                    daemon=True,
                )
            )

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def notify(self) -> None:
        self.wake.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout)

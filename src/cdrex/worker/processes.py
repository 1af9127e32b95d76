"""`cdrex worker`: export workers in processes of their own, for scaling out.

Each worker process runs one ExportWorker loop with its own database connections and its
own LISTEN connection. With ``--concurrency 1`` this process is the worker; with more, it
starts that many children, restarts any that die, and passes SIGTERM/SIGINT on. It also
runs the sweeper (retention, partitions), which is safe to run on every host at once.

On SIGTERM a worker stops within a chunk of output: its export goes back to pending (the
attempt not counted) and NOTIFY wakes another worker to take it over.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from multiprocessing.process import BaseProcess

from cdrex.pipeline.file_store import open_file_store
from cdrex.settings import Settings
from cdrex.store.db import Database
from cdrex.worker.callback_senders import start_senders
from cdrex.worker.jobs import ExportWorker
from cdrex.worker.sweep import run_sweeper
from cdrex.worker.threads import doorbell_for

log = logging.getLogger("cdrex.worker")
_RESTART_DELAY_SECONDS = 1.0  # a child that dies at once must not spin


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """An event (``stop``, or a new one) that SIGTERM and SIGINT set, instead of exiting."""
    stop = stop or threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def work(settings: Settings, stop: threading.Event | None = None) -> None:
    """One worker loop in this process, until SIGTERM/SIGINT (or ``stop``)."""
    stop = stop or stop_on_signals()
    db = Database(settings.resolved_database_url, settings.write_wait_seconds)
    doorbell = doorbell_for(db)
    try:
        ExportWorker(db, open_file_store(settings), settings).run(stop, doorbell)
    finally:
        close = getattr(doorbell, "close", None)
        if close:
            close()
        db.dispose()


def _child(settings: Settings) -> None:
    configure_logging()
    work(settings)


def run_workers(settings: Settings, concurrency: int) -> None:
    """Run ``concurrency`` worker loops, the sweeper and the callback senders until
    SIGTERM/SIGINT."""
    stop = stop_on_signals()
    db = Database(settings.resolved_database_url, settings.write_wait_seconds)
    files = open_file_store(settings)
    sweeper = threading.Thread(
        target=run_sweeper, args=(db, files, settings, stop), name="sweeper", daemon=True
    )
    sweeper.start()
    senders = start_senders(db, settings, stop)  # in this process: one set per host
    if concurrency == 1:
        work(settings, stop)
    else:
        _supervise(settings, concurrency, stop)
    for thread in (sweeper, *senders):
        thread.join(10)
    db.dispose()


def _supervise(settings: Settings, concurrency: int, stop: threading.Event) -> None:
    spawn = multiprocessing.get_context("spawn")  # no inherited connections or threads

    def start() -> BaseProcess:
        child = spawn.Process(target=_child, args=(settings,), name="cdrex-worker")
        child.start()
        log.info("started worker process %d", child.pid)
        return child

    children = [start() for _ in range(concurrency)]
    while not stop.wait(_RESTART_DELAY_SECONDS):
        for n, child in enumerate(children):
            if not child.is_alive():
                log.warning("worker process %d exited (%s); restarting", child.pid, child.exitcode)
                children[n] = start()
    for child in children:
        if child.is_alive():
            child.terminate()  # SIGTERM: release or finish, then exit
    for child in children:
        child.join()

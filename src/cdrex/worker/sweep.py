"""Housekeeping: finished exports and their files go one retention period after completion;
CDR partitions are created ahead, dropped when expired and clustered when closed; the rows
of SQLite imports that died part way are deleted."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from cdrex.exports.kinds import file_format
from cdrex.pipeline.file_store import FileStore
from cdrex.settings import Settings
from cdrex.store import export_queue
from cdrex.store.cdrs import discard_abandoned_imports
from cdrex.store.db import UNAVAILABLE_ERRORS, Database
from cdrex.store.partitions import maintain_partitions

log = logging.getLogger("cdrex.sweep")


def sweep(db: Database, files: FileStore, settings: Settings, now: datetime) -> int:
    """Delete expired exports (row first, then file), abandoned partial files and the rows
    of abandoned imports."""
    lease = timedelta(seconds=settings.lease_seconds)
    expired = export_queue.delete_finished_before(db, now - timedelta(days=settings.retention_days))
    for export in expired:
        files.delete(export.file_name + file_format(export.api_version, export.export_type).suffix)
    files.delete_stale_partials((now - 10 * lease).timestamp())
    maintain_partitions(db, now, settings)
    if discarded := discard_abandoned_imports(db, now, lease):
        log.info("sweep: deleted the rows of %d abandoned imports", discarded)
    return len(expired)


def run_sweeper(db: Database, files: FileStore, settings: Settings, stop: threading.Event) -> None:
    while True:
        try:
            removed = sweep(db, files, settings, datetime.now(UTC))
            if removed:
                log.info("sweep: deleted %d expired exports", removed)
        except UNAVAILABLE_ERRORS as error:
            log.warning(
                "sweep: database unavailable (%s); trying again next period",
                str(error).strip().splitlines()[0],
            )
        except Exception:
            log.exception("sweep failed; trying again next period")
        if stop.wait(settings.sweep_seconds):
            return

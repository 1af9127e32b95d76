"""The exports table as a job queue, on both backends: claims, leases, attempts, retention."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from cdrex.exports.model import CdrSelection, Export, ExportStatus, ExportType
from cdrex.pipeline.local_files import LocalFiles
from cdrex.settings import Settings
from cdrex.store import export_queue as queue
from cdrex.store import exports as store
from cdrex.store.accounts import create_account
from cdrex.worker.jobs import ExportWorker
from cdrex.worker.sweep import sweep

LEASE = timedelta(seconds=30)


def _pending(db, account_id: int, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        export = Export(
            account_id=account_id,
            api_version="2017-09-18",
            export_type=ExportType.CDR_IN,
            filters={"year": str(now.year), "month": str(now.month)},
            selection=CdrSelection(now - timedelta(days=1), now),
            created_at=now + timedelta(microseconds=n),
        )
        store.insert_export(db, export)
        ids.append(export.id)
    return ids


def test_concurrent_claims_take_every_job_exactly_once(database) -> None:  # type: ignore[no-untyped-def]
    account = create_account(database, "a")
    ids = _pending(database, account.id, 40)
    claimed: list[str] = []
    lock = threading.Lock()

    def claim_all(owner: str) -> None:
        while job := queue.claim_next_export(database, owner, datetime.now(UTC), LEASE, 3):
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)


def test_expired_lease_is_reclaimed_and_old_owner_cannot_finish(database) -> None:  # type: ignore[no-untyped-def]
    account = create_account(database, "a")
    [export_id] = _pending(database, account.id, 1)
    now = datetime.now(UTC)
    first = queue.claim_next_export(database, "dead", now, timedelta(seconds=5), 3)
    assert first is not None and first.attempts == 1
    assert queue.claim_next_export(database, "other", now, LEASE, 3) is None  # lease still runs
    later = now + timedelta(seconds=6)
    second = queue.claim_next_export(database, "alive", later, LEASE, 3)
    assert second is not None and second.id == export_id and second.attempts == 2
    assert not queue.renew_export_lease(database, export_id, "dead", later + LEASE)
    assert not queue.complete_export(database, export_id, "dead", later, 1, 1, "x" * 64)
    assert queue.complete_export(database, export_id, "alive", later, 5, 10, "a" * 64)
    done = store.get_export(database, account.id, export_id)
    assert done is not None and done.status is ExportStatus.COMPLETED and done.row_count == 5


def test_job_claimed_too_often_becomes_failed_with_reason(database) -> None:  # type: ignore[no-untyped-def]
    account = create_account(database, "a")
    [export_id] = _pending(database, account.id, 1)
    now = datetime.now(UTC)
    for attempt in range(3):
        assert queue.claim_next_export(database, "w", now + attempt * LEASE * 2, LEASE, 3)
    assert queue.claim_next_export(database, "w", now + 10 * LEASE, LEASE, 3) is None
    failed = store.get_export(database, account.id, export_id)
    assert failed is not None and failed.status is ExportStatus.FAILED
    assert failed.failure_reason == "gave up after 3 attempts"


def test_other_accounts_exports_are_invisible(database) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = create_account(database, "mine"), create_account(database, "theirs")
    [their_export] = _pending(database, theirs.id, 1)
    assert store.get_export(database, mine.id, their_export) is None
    assert store.list_exports(database, mine.id, [], 0, 50) == ([], 0)


def test_sweep_deletes_exports_and_files_after_retention(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, retention_days=30)
    files = LocalFiles(settings.files_dir)
    account = create_account(database, "a")
    [export_id] = _pending(database, account.id, 1)
    assert ExportWorker(database, files, settings).run_once()
    export = store.get_export(database, account.id, export_id)
    assert export is not None and export.status is ExportStatus.COMPLETED
    path = files.path(export.file_name + ".csv")
    assert path.read_bytes().startswith(b"Date/Time (UTC),")
    assert export.completed_at is not None
    assert sweep(database, files, settings, export.completed_at + timedelta(days=29)) == 0
    assert path.exists()
    expired = export.completed_at + timedelta(days=30, seconds=1)
    assert sweep(database, files, settings, expired) == 1
    assert not path.exists()
    assert store.get_export(database, account.id, export_id) is None

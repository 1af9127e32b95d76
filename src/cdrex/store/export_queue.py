"""The export job queue: the exports table, which workers claim pending exports from.

A worker claims an export with a lease (``lease_owner``, ``lease_expires_at``), renews it
while it builds the file, then completes the export or releases it back to pending. A
worker that dies leaves its lease to run out; the next claim takes the export over. Every
statement the workers run is here, each with one line saying what it does and why it is
safe with many workers at once. Two things make every one of them so: a claim locks the row
it takes (FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite, Database.write's BEGIN IMMEDIATE
holds the one write lock for the whole transaction), and every later write matches the
claimer's ``lease_owner`` while the export is processing, so a worker whose lease was taken
over changes nothing.

What a failure means (retry at once, give the attempt back, give up) is decided by
cdrex.worker.retry; this module only carries it out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from cdrex.exports.model import Export, ExportStatus
from cdrex.store.backends import is_sqlite
from cdrex.store.callback_queue import owe_callback
from cdrex.store.db import Database
from cdrex.store.export_rows import EXPORT_COLUMNS, to_export
from cdrex.store.schema import exports
from cdrex.worker.retry import GiveUp, Limits, Unfinished, decide

# Workers LISTEN on this channel (PostgreSQL): a new or released export wakes them at once.
NOTIFY_CHANNEL = "cdrex_exports"


def notify_workers(conn: sa.Connection) -> None:
    """Wake idle worker processes; PostgreSQL delivers the notification on commit."""
    if not is_sqlite(conn):
        # Held until commit: workers wake to a row they can see, and a rollback wakes none.
        conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))


def claim_next_export(
    db: Database, owner: str, now: datetime, lease: timedelta, max_attempts: int
) -> Export | None:
    """Take the oldest pending export, or one whose worker's lease ran out, and lease it.

    An export already claimed ``max_attempts`` times becomes failed instead of being run
    again (cdrex.worker.retry decides): a job that kills its worker every time must not
    loop forever.
    """
    limits = Limits(max_attempts)
    claimable = sa.or_(
        exports.c.status == ExportStatus.PENDING.value,
        sa.and_(
            exports.c.status == ExportStatus.PROCESSING.value,
            exports.c.lease_expires_at < now,
        ),
    )
    # The oldest claimable export, locked; SKIP LOCKED: a concurrent claim takes another.
    candidate = (
        sa.select(exports.c.id, exports.c.attempts, exports.c.failure_reason)
        .where(claimable)
        .order_by(exports.c.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    with db.write() as conn:
        while True:
            row = conn.execute(candidate).first()
            if row is None:
                return None
            decision = decide(Unfinished(row.failure_reason), row.attempts, now, limits)
            if not isinstance(decision, GiveUp):
                break
            _fail_export(conn, row.id, now, decision.reason)
        # Lease the row locked above to ``owner`` and count the attempt.
        claimed = conn.execute(
            exports.update()
            .where(exports.c.id == row.id)
            .values(
                status=ExportStatus.PROCESSING.value,
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=exports.c.attempts + 1,
                started_at=now,
            )
            .returning(*EXPORT_COLUMNS)
        ).one()
    return to_export(claimed)


def _fail_export(conn: sa.Connection, export_id: str, now: datetime, reason: str) -> None:
    """Fail an export the retry policy gave up on, inside the claim that locked it."""
    # Failed, with no lease; the callback owed is written in the same transaction.
    conn.execute(
        exports.update()
        .where(exports.c.id == export_id)
        .values(
            status=ExportStatus.FAILED.value,
            lease_owner=None,
            lease_expires_at=None,
            completed_at=now,
            failure_reason=reason,
        )
    )
    owe_callback(conn, export_id, ExportStatus.FAILED, now)


def _owned(export_id: str, owner: str) -> sa.ColumnElement[bool]:
    """The export, while ``owner`` holds its lease: a taken-over worker's writes match nothing."""
    return sa.and_(
        exports.c.id == export_id,
        exports.c.lease_owner == owner,
        exports.c.status == ExportStatus.PROCESSING.value,
    )


def renew_export_lease(db: Database, export_id: str, owner: str, until: datetime) -> bool:
    """Extend the lease; False when the job is no longer ours (expired and taken over)."""
    with db.write() as conn:
        # Push the lease on, only while ours: a lease already taken over stays the new owner's.
        result = conn.execute(
            exports.update().where(_owned(export_id, owner)).values(lease_expires_at=until)
        )
    return result.rowcount == 1


def complete_export(
    db: Database,
    export_id: str,
    owner: str,
    now: datetime,
    row_count: int,
    byte_size: int,
    sha256: str,
) -> bool:
    """Record the built file and finish the export; False when the lease was lost first."""
    with db.write() as conn:
        # Completed, only while ours: a worker that lost its lease does not finish the export.
        result = conn.execute(
            exports.update()
            .where(_owned(export_id, owner))
            .values(
                status=ExportStatus.COMPLETED.value,
                lease_owner=None,
                lease_expires_at=None,
                completed_at=now,
                row_count=row_count,
                byte_size=byte_size,
                sha256=sha256,
                failure_reason=None,
            )
        )
        if result.rowcount == 1:
            # In the same transaction: a crash cannot complete the export and owe nothing.
            owe_callback(conn, export_id, ExportStatus.COMPLETED, now)
    return result.rowcount == 1


def release_export(
    db: Database, export_id: str, owner: str, reason: str | None, *, count_attempt: bool = True
) -> None:
    """Give a job back: it is retried at once, by any worker, until max_attempts.

    A worker that stops for shutdown gives the attempt back too (``count_attempt=False``):
    a deploy must not push exports towards Failed.
    """
    values: dict[str, object] = {
        "status": ExportStatus.PENDING.value,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if reason is not None:
        values["failure_reason"] = reason
    if not count_attempt:
        values["attempts"] = exports.c.attempts - 1
    with db.write() as conn:
        # Back to pending, only while ours: once taken over, the export is the new owner's.
        conn.execute(exports.update().where(_owned(export_id, owner)).values(**values))
        notify_workers(conn)


def delete_finished_before(db: Database, before: datetime) -> list[Export]:
    """Delete exports that finished before ``before``; return them so files can go too."""
    finished = sa.and_(
        exports.c.status.in_([ExportStatus.COMPLETED.value, ExportStatus.FAILED.value]),
        exports.c.completed_at < before,
    )
    with db.write() as conn:
        # The finished exports, returned so their files go too: no worker writes them any more.
        rows = conn.execute(sa.select(*EXPORT_COLUMNS).where(finished)).all()
        # Delete those rows by id: none is claimable, so the delete races with no worker.
        conn.execute(exports.delete().where(exports.c.id.in_([row.id for row in rows])))
    return [to_export(row) for row in rows]

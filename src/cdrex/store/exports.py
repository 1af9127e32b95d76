"""Exports: the customer's rows, and the job queue the workers claim them from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from cdrex.exports.model import CdrSelection, Export, ExportStatus, ExportType
from cdrex.store.db import Database
from cdrex.store.schema import exports

SORTABLE = {"status": exports.c.status, "created_at": exports.c.created_at}


def _to_export(row: sa.Row) -> Export:
    return Export(
        id=row.id,
        account_id=row.account_id,
        api_version=row.api_version,
        export_type=ExportType(row.export_type),
        filters=row.filters,
        selection=CdrSelection(row.period_start, row.period_end, row.did_number),
        created_at=row.created_at,
        file_name=row.file_name,
        status=ExportStatus(row.status),
        attempts=row.attempts,
        completed_at=row.completed_at,
        row_count=row.row_count,
        byte_size=row.byte_size,
        sha256=row.sha256,
        failure_reason=row.failure_reason,
    )


def insert_export(db: Database, export: Export) -> None:
    with db.write() as conn:
        conn.execute(
            exports.insert().values(
                id=export.id,
                account_id=export.account_id,
                api_version=export.api_version,
                export_type=export.export_type.value,
                filters=export.filters,
                period_start=export.selection.start,
                period_end=export.selection.end,
                did_number=export.selection.did_number,
                status=export.status.value,
                created_at=export.created_at,
                file_name=export.file_name,
            )
        )


def get_export(db: Database, account_id: int, export_id: str) -> Export | None:
    query = sa.select(exports).where(exports.c.account_id == account_id, exports.c.id == export_id)
    with db.read() as conn:
        row = conn.execute(query).first()
    return _to_export(row) if row else None


def get_export_by_file(db: Database, account_id: int, file_name: str) -> Export | None:
    query = sa.select(exports).where(
        exports.c.account_id == account_id, exports.c.file_name == file_name
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    return _to_export(row) if row else None


def list_exports(
    db: Database,
    account_id: int,
    sort: Sequence[tuple[str, bool]],
    offset: int,
    limit: int,
) -> tuple[list[Export], int]:
    """One page of the account's exports and the total count; sort is (field, descending)."""
    order = [SORTABLE[name].desc() if descending else SORTABLE[name] for name, descending in sort]
    order += [exports.c.created_at, exports.c.id]  # stable pages whatever the sort
    mine = exports.c.account_id == account_id
    page = sa.select(exports).where(mine).order_by(*order).offset(offset).limit(limit)
    with db.read() as conn:
        rows = conn.execute(page).all()
        # A full count only when the page does not already tell it.
        if (rows or offset == 0) and len(rows) < limit:
            total = offset + len(rows)
        else:
            total = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
    return [_to_export(row) for row in rows], total


def claim_next_export(
    db: Database, owner: str, now: datetime, lease: timedelta, max_attempts: int
) -> Export | None:
    """Take the oldest pending export, or one whose worker's lease ran out, and lease it.

    An export already claimed ``max_attempts`` times becomes failed instead of being run
    again: a job that kills its worker every time must not loop forever.
    """
    claimable = sa.or_(
        exports.c.status == ExportStatus.PENDING.value,
        sa.and_(
            exports.c.status == ExportStatus.PROCESSING.value,
            exports.c.lease_expires_at < now,
        ),
    )
    candidate = (
        sa.select(exports.c.id, exports.c.attempts)
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
            if row.attempts < max_attempts:
                break
            conn.execute(
                exports.update()
                .where(exports.c.id == row.id)
                .values(
                    status=ExportStatus.FAILED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    completed_at=now,
                    failure_reason=f"gave up after {row.attempts} attempts",
                )
            )
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
            .returning(*exports.c)
        ).one()
    return _to_export(claimed)


def _owned(export_id: str, owner: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        exports.c.id == export_id,
        exports.c.lease_owner == owner,
        exports.c.status == ExportStatus.PROCESSING.value,
    )


def renew_lease(db: Database, export_id: str, owner: str, until: datetime) -> bool:
    """Extend the lease; False when the job is no longer ours (expired and taken over)."""
    with db.write() as conn:
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
    with db.write() as conn:
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
    return result.rowcount == 1


def release_export(db: Database, export_id: str, owner: str, reason: str) -> None:
    """Give a job back after an error: it is retried at once, until max_attempts."""
    with db.write() as conn:
        conn.execute(
            exports.update()
            .where(_owned(export_id, owner))
            .values(
                status=ExportStatus.PENDING.value,
                lease_owner=None,
                lease_expires_at=None,
                failure_reason=reason,
            )
        )


def delete_finished_before(db: Database, before: datetime) -> list[Export]:
    """Delete exports that finished before ``before``; return them so files can go too."""
    finished = sa.and_(
        exports.c.status.in_([ExportStatus.COMPLETED.value, ExportStatus.FAILED.value]),
        exports.c.completed_at < before,
    )
    with db.write() as conn:
        rows = conn.execute(sa.select(exports).where(finished)).all()
        conn.execute(exports.delete().where(exports.c.id.in_([row.id for row in rows])))
    return [_to_export(row) for row in rows]

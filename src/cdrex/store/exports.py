"""Exports: the customer's rows, and the job queue the workers claim them from."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa

from cdrex.exports.kinds import KINDS, NARROWING_COLUMNS
from cdrex.exports.model import CallbackMethod, CdrSelection, Export, ExportStatus, ExportType
from cdrex.store.db import Database
from cdrex.store.schema import UtcDateTime, callback_deliveries, exports

# Workers LISTEN on this channel (PostgreSQL): a new or released export wakes them at once.
NOTIFY_CHANNEL = "cdrex_exports"

SORTABLE = {
    "status": exports.c.status,
    "created_at": exports.c.created_at,
    "external_reference_id": exports.c.external_reference_id,
}
FILTERABLE = {"id": exports.c.id, "external_reference_id": exports.c.external_reference_id}
Filters = Sequence[tuple[str, Sequence[str]]]  # (key, values: any matches), ANDed
_TYPES = {member.value: member for member in ExportType}  # a dict lookup: Enum() is slower
_STATUSES = {member.value: member for member in ExportStatus}
_METHODS = {member.value: member for member in CallbackMethod}


def _utc(value: datetime | str | None) -> datetime | None:
    """A stored time as _EXPORT_COLUMNS reads it, as an aware UTC datetime."""
    if isinstance(value, str):  # SQLite: the naive UTC text SQLAlchemy's DateTime wrote
        return datetime.fromisoformat(value + "+00:00")
    return value.astimezone(UTC) if value is not None else None


# Every query that makes Exports selects these, in this order, and _to_export unpacks them
# by position. A list page converts up to 100 rows per request, and both SQLAlchemy's
# processing of them (a regex per SQLite timestamp, then a time zone replace; json.loads)
# and its Row attribute access cost more than the query: so the timestamps and filters are
# read as the driver returns them (type_coerce to String only skips the processing: on
# PostgreSQL the driver still returns datetimes and dicts) and converted here instead.
# The narrowing columns come last, so that _to_export can take them as the rest.
_EXPORT_FIELDS = (
    "id",
    "account_id",
    "api_version",
    "export_type",
    "filters",
    "period_start",
    "period_end",
    "created_at",
    "file_name",
    "status",
    "attempts",
    "completed_at",
    "row_count",
    "byte_size",
    "sha256",
    "failure_reason",
    "callback_url",
    "callback_method",
    "external_reference_id",
    "base_url",
    *NARROWING_COLUMNS,
)
_EXPORT_COLUMNS = [
    sa.type_coerce(column, sa.String).label(name)
    if isinstance(column.type, UtcDateTime | sa.JSON)
    else column
    for name, column in ((name, exports.c[name]) for name in _EXPORT_FIELDS)
]


def _to_export(row: Sequence) -> Export:
    """An Export from a row of _EXPORT_COLUMNS."""
    (
        id_,
        account_id,
        api_version,
        type_name,
        filters,
        period_start,
        period_end,
        created_at,
        file_name,
        status,
        attempts,
        completed_at,
        row_count,
        byte_size,
        sha256,
        failure_reason,
        callback_url,
        callback_method,
        external_reference_id,
        base_url,
        *narrowed,
    ) = row
    export_type = _TYPES[type_name]
    return Export(
        id=id_,
        account_id=account_id,
        api_version=api_version,
        export_type=export_type,
        filters=orjson.loads(filters) if isinstance(filters, str) else filters,
        selection=CdrSelection(
            _utc(period_start), _utc(period_end), _narrowing(export_type, narrowed)
        ),
        created_at=_utc(created_at),
        file_name=file_name,
        status=_STATUSES[status],
        attempts=attempts,
        completed_at=_utc(completed_at),
        row_count=row_count,
        byte_size=byte_size,
        sha256=sha256,
        failure_reason=failure_reason,
        callback_url=callback_url,
        callback_method=_METHODS[callback_method] if callback_method else None,
        external_reference_id=external_reference_id,
        base_url=base_url,
    )


def _narrowing(
    export_type: ExportType, values: Sequence[str | None]
) -> tuple[tuple[str, str], ...]:
    """CdrSelection.narrowing from the values of NARROWING_COLUMNS, in the kind's order."""
    stored = dict(zip(NARROWING_COLUMNS, values, strict=True))
    return tuple(
        (narrowing.column, value)
        for narrowing in KINDS[export_type].narrowings
        if (value := stored[narrowing.column]) is not None
    )


_MINE = exports.c.account_id == sa.bindparam("account_id")


@functools.lru_cache(maxsize=64)
def _page_query(sort: tuple[tuple[str, bool], ...], filtered: tuple[str, ...]) -> sa.Select:
    """One statement per sort order and set of filter keys, built once: building and
    hashing a new statement per request cost as much as running it."""
    order = [SORTABLE[name].desc() if descending else SORTABLE[name] for name, descending in sort]
    order += [exports.c.created_at, exports.c.id]  # stable pages whatever the sort
    return (
        sa.select(*_EXPORT_COLUMNS)
        .where(_MINE, *_filter_clauses(filtered))
        .order_by(*order)
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
    )


def _filter_clauses(keys: tuple[str, ...]) -> list[sa.ColumnElement[bool]]:
    return [FILTERABLE[key].in_(sa.bindparam(f"f_{key}", expanding=True)) for key in keys]


@functools.lru_cache(maxsize=64)
def _count_query(filtered: tuple[str, ...]) -> sa.Select:
    return sa.select(sa.func.count()).where(_MINE, *_filter_clauses(filtered))


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
                **_narrowing_columns(export.selection),
                callback_url=export.callback_url,
                callback_method=export.callback_method and export.callback_method.value,
                external_reference_id=export.external_reference_id,
                base_url=export.base_url,
                status=export.status.value,
                created_at=export.created_at,
                file_name=export.file_name,
            )
        )
        _notify_workers(conn)


def _narrowing_columns(selection: CdrSelection) -> dict[str, str | None]:
    """Every narrowing column's value: the selection's, None for the others."""
    narrowed = dict(selection.narrowing)
    return {column: narrowed.get(column) for column in NARROWING_COLUMNS}


def _notify_workers(conn: sa.Connection) -> None:
    """Wake idle worker processes; PostgreSQL delivers the notification on commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))


def _find_one(db: Database, account_id: int, matches: sa.ColumnElement[bool]) -> Export | None:
    query = sa.select(*_EXPORT_COLUMNS).where(exports.c.account_id == account_id, matches)
    with db.read() as conn:
        row = conn.execute(query).first()
    return _to_export(row) if row else None


def get_export(db: Database, account_id: int, export_id: str) -> Export | None:
    return _find_one(db, account_id, exports.c.id == export_id)


def get_export_by_file(db: Database, account_id: int, file_name: str) -> Export | None:
    return _find_one(db, account_id, exports.c.file_name == file_name)


def set_external_reference_id(
    db: Database, account_id: int, export_id: str, reference: str | None
) -> Export | None:
    """Change the customer's own reference of an export; None when there is no such export."""
    with db.write() as conn:
        row = conn.execute(
            exports.update()
            .where(exports.c.account_id == account_id, exports.c.id == export_id)
            .values(external_reference_id=reference)
            .returning(*_EXPORT_COLUMNS)
        ).first()
    return _to_export(row) if row else None


def list_exports(
    db: Database,
    account_id: int,
    sort: Sequence[tuple[str, bool]],
    offset: int,
    limit: int,
    filters: Filters = (),
) -> tuple[list[Export], int]:
    """One page of the account's exports and the total count; sort is (field, descending)."""
    keys = tuple(key for key, _ in filters)
    params = {f"f_{key}": list(values) for key, values in filters}
    params["account_id"] = account_id
    with db.read() as conn:
        rows = conn.execute(
            _page_query(tuple(sort), keys), {**params, "offset": offset, "limit": limit}
        ).all()
        # A full count only when the page does not already tell it.
        if (rows or offset == 0) and len(rows) < limit:
            total = offset + len(rows)
        else:
            total = conn.execute(_count_query(keys), params).scalar_one()
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
                    failure_reason=_gave_up(row.attempts, row.failure_reason),
                )
            )
            _owe_callback(conn, row.id, ExportStatus.FAILED, now)
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
            .returning(*_EXPORT_COLUMNS)
        ).one()
    return _to_export(claimed)


PENDING_CALLBACK = "pending"


def _owe_callback(conn: sa.Connection, export_id: str, event: ExportStatus, now: datetime) -> None:
    """Owe a callback for the export's ``event``, if it asked for one. Written in the
    transaction that finishes the export: a crash cannot finish one without the other."""
    at = sa.literal(now, UtcDateTime())
    wanted = sa.select(
        exports.c.id, sa.literal(event.value), sa.literal(PENDING_CALLBACK), at, at
    ).where(exports.c.id == export_id, exports.c.callback_url.is_not(None))
    conn.execute(
        callback_deliveries.insert().from_select(
            ["export_id", "event", "status", "due_at", "created_at"], wanted
        )
    )


def _gave_up(attempts: int, last_error: str | None) -> str:
    reason = f"gave up after {attempts} attempts"
    return f"{reason}; last error: {last_error}" if last_error else reason


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
        if result.rowcount == 1:
            _owe_callback(conn, export_id, ExportStatus.COMPLETED, now)
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
        conn.execute(exports.update().where(_owned(export_id, owner)).values(**values))
        _notify_workers(conn)


def delete_finished_before(db: Database, before: datetime) -> list[Export]:
    """Delete exports that finished before ``before``; return them so files can go too."""
    finished = sa.and_(
        exports.c.status.in_([ExportStatus.COMPLETED.value, ExportStatus.FAILED.value]),
        exports.c.completed_at < before,
    )
    with db.write() as conn:
        rows = conn.execute(sa.select(*_EXPORT_COLUMNS).where(finished)).all()
        conn.execute(exports.delete().where(exports.c.id.in_([row.id for row in rows])))
    return [_to_export(row) for row in rows]

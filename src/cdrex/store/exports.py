"""Exports as the customer sees them: created, read, listed, found by file, re-referenced.
The job queue the workers claim them from is export_queue.py."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import sqlalchemy as sa

from cdrex.exports.kinds import NARROWING_COLUMNS
from cdrex.exports.model import CdrSelection, Export
from cdrex.store.db import Database
from cdrex.store.export_queue import notify_workers
from cdrex.store.export_rows import EXPORT_COLUMNS, to_export
from cdrex.store.schema import exports

SORTABLE = {
    "status": exports.c.status,
    "created_at": exports.c.created_at,
    "external_reference_id": exports.c.external_reference_id,
}
FILTERABLE = {"id": exports.c.id, "external_reference_id": exports.c.external_reference_id}
Filters = Sequence[tuple[str, Sequence[str]]]  # (key, values: any matches), ANDed

_MINE = exports.c.account_id == sa.bindparam("account_id")


@functools.lru_cache(maxsize=64)
def _page_query(sort: tuple[tuple[str, bool], ...], filtered: tuple[str, ...]) -> sa.Select:
    """One statement per sort order and set of filter keys, built once: building and
    hashing a new statement per request cost as much as running it."""
    order = [SORTABLE[name].desc() if descending else SORTABLE[name] for name, descending in sort]
    order += [exports.c.created_at, exports.c.id]  # stable pages whatever the sort
    return (
        sa.select(*EXPORT_COLUMNS)
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
        notify_workers(conn)  # the queue has a new job


def _narrowing_columns(selection: CdrSelection) -> dict[str, str | None]:
    """Every narrowing column's value: the selection's, None for the others."""
    narrowed = dict(selection.narrowing)
    return {column: narrowed.get(column) for column in NARROWING_COLUMNS}


def _find_one(db: Database, account_id: int, matches: sa.ColumnElement[bool]) -> Export | None:
    query = sa.select(*EXPORT_COLUMNS).where(exports.c.account_id == account_id, matches)
    with db.read() as conn:
        row = conn.execute(query).first()
    return to_export(row) if row else None


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
            .returning(*EXPORT_COLUMNS)
        ).first()
    return to_export(row) if row else None


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
    params: dict[str, object] = {f"f_{key}": list(values) for key, values in filters}
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
    return [to_export(row) for row in rows], total

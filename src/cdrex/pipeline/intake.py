"""Taking CDRs in: a file or a pushed batch, parsed, routed to their owners, stored once.

The CLI's `cdrex cdrs import` and the operator API's `POST /operator/v1/cdrs` both come
here, so a batch is read, refused and counted the same way whichever door it came in by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cdrex.cdrs.files import read_numbered_records
from cdrex.cdrs.input_formats import CDREX_FORMAT, InputFormat
from cdrex.cdrs.routing import Router, Tally, one_owner, route
from cdrex.exports.kinds import KINDS, RecordKind
from cdrex.exports.model import ExportType
from cdrex.exports.window import shift_month
from cdrex.settings import Settings
from cdrex.store import ownership
from cdrex.store.cdrs import Imported, insert_cdrs
from cdrex.store.db import Database

Progress = Callable[[Iterator[list[tuple]]], Iterator[list[tuple]]]


@dataclass(frozen=True)
class Intake:
    imported: Imported
    tally: Tally


def take_in(
    db: Database,
    settings: Settings,
    stream: Iterable[bytes],
    export_type: ExportType,
    account_id: int | None = None,
    skip: bool = False,
    progress: Progress | None = None,
    turn_wait: float | None = None,
    source: InputFormat = CDREX_FORMAT,
) -> Intake:
    """Import the CDRs of ``stream`` (in ``source``'s format: by default cdrex's own, CSV
    with a header or JSON Lines) all or nothing.

    Each goes to the owner of its DID or trunk at its time_start, or with ``account_id``
    to that account. A CDR nobody owned, or older than the oldest month kept, stops the
    import (cdrex.cdrs.files.BadCdrFile naming its line) or with ``skip`` is counted in
    the tally and left out. Calls the account already has are counted, not stored again.
    ``turn_wait``: see cdrex.store.cdrs.insert_cdrs.
    """
    kind = KINDS[export_type]
    tally = Tally(skip=skip)
    reader = source.reader(kind)
    if reader is not None:
        tally.ignored = reader.ignored  # counted as the records are read
    numbered = read_numbered_records(
        stream, kind.fields, records_of=reader.records if reader else None
    )
    owned = route(numbered, _router(db, kind, account_id), tally, oldest_kept(settings))
    lease = timedelta(seconds=settings.lease_seconds)
    imported = insert_cdrs(
        db, progress(owned) if progress else owned, export_type, lease, turn_wait
    )
    return Intake(imported, tally)


def oldest_kept(settings: Settings, now: datetime | None = None) -> datetime:
    """The start of the oldest month whose calls can still be exported or are kept
    (naive UTC, as records hold times): older ones would be stored for nothing."""
    now = now or datetime.now(UTC)
    back = settings.export_window_months + settings.cdr_retention_months
    year, month = shift_month(now.year, now.month, -back)
    return datetime(year, month, 1)


def _router(db: Database, kind: RecordKind, account_id: int | None) -> Router:
    """Each record to its owner, or with ``account_id`` every record to that account."""
    resource = kind.routed_by
    names = [field.name for field in kind.fields]
    return Router(
        one_owner(account_id)
        if account_id is not None
        else lambda identifiers: ownership.owner_intervals(db, resource, identifiers),
        resource.label,
        key=names.index(resource.narrowing.column),
        time=names.index("time_start"),
    )

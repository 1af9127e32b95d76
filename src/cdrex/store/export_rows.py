"""An Export read from a row of the exports table: the columns every such query selects, and
the conversion of a row of them. The customer's reads (exports.py) and the job queue
(export_queue.py) both return Exports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa

from cdrex.exports.kinds import KINDS, NARROWING_COLUMNS
from cdrex.exports.model import CallbackMethod, CdrSelection, Export, ExportStatus, ExportType
from cdrex.store.backends import utc_datetime
from cdrex.store.schema import UtcDateTime, exports

_TYPES = {member.value: member for member in ExportType}  # a dict lookup: Enum() is slower
_STATUSES = {member.value: member for member in ExportStatus}
_METHODS = {member.value: member for member in CallbackMethod}


def _utc_or_none(value: datetime | str | None) -> datetime | None:
    return None if value is None else utc_datetime(value)


# Every query that makes Exports selects these, in this order, and to_export unpacks them
# by position. A list page converts up to 100 rows per request, and both SQLAlchemy's
# processing of them (a regex per SQLite timestamp, then a time zone replace; json.loads)
# and its Row attribute access cost more than the query: so the timestamps and filters are
# read as the driver returns them (type_coerce to String only skips the processing: on
# PostgreSQL the driver still returns datetimes and dicts) and converted here instead.
# The narrowing columns come last, so that to_export can take them as the rest.
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
EXPORT_COLUMNS = [
    sa.type_coerce(column, sa.String).label(name)
    if isinstance(column.type, UtcDateTime | sa.JSON)
    else column
    for name, column in ((name, exports.c[name]) for name in _EXPORT_FIELDS)
]


def to_export(row: Sequence) -> Export:
    """An Export from a row of EXPORT_COLUMNS."""
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
            utc_datetime(period_start), utc_datetime(period_end), _narrowing(export_type, narrowed)
        ),
        created_at=utc_datetime(created_at),
        file_name=file_name,
        status=_STATUSES[status],
        attempts=attempts,
        completed_at=_utc_or_none(completed_at),
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

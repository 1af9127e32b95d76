"""The schema, as SQLAlchemy Core tables. Migrations (store/migrations) create it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from cdrex.cdrs.records import Field, Kind
from cdrex.exports.kinds import KINDS, NARROWINGS
from cdrex.exports.model import ExportType
from cdrex.exports.versions import DEFAULT_VERSION

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit ids on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the 64-bit rowid itself.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator):
    """Aware UTC datetimes in Python; ``timestamptz`` on PostgreSQL, ISO text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The API version requests without X-DIDWW-API-Version get (and the oldest they may ask).
    sa.Column("api_version", sa.String(10), nullable=False, server_default=DEFAULT_VERSION.name),
    sa.Column("callback_secret", sa.String(200)),  # signs callbacks; none set: none sent
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # NULL: an operator key (the operator API's, migration 0008); a customer key has its
    # account. Neither API takes the other's keys.
    sa.Column("account_id", sa.ForeignKey("accounts.id"), nullable=True, index=True),
    sa.Column("prefix", sa.String(16), nullable=False, index=True),
    # Only a SHA-256 of the key is kept: a stolen database yields no usable key.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

exports = sa.Table(
    "exports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("api_version", sa.String(10), nullable=False),
    sa.Column("export_type", sa.String(16), nullable=False),
    sa.Column("filters", sa.JSON, nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=False),
    sa.Column("period_end", UtcDateTime, nullable=False),
    # The narrowing filters' values (CdrSelection.narrowing), a column each.
    *(sa.Column(narrowing.column, sa.String(narrowing.max_length)) for narrowing in NARROWINGS),
    sa.Column("callback_url", sa.Text),
    sa.Column("callback_method", sa.String(4)),
    sa.Column("external_reference_id", sa.String(100)),
    sa.Column("base_url", sa.String(200)),  # where the client reached us: the callback's url
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("file_name", sa.String(36), nullable=False, unique=True),
    # The job queue is this table: a worker owns a row while its lease runs.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(100)),
    sa.Column("lease_expires_at", UtcDateTime),
    sa.Column("started_at", UtcDateTime),
    sa.Column("completed_at", UtcDateTime),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("byte_size", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("failure_reason", sa.Text),
    sa.Index(None, "account_id", "created_at"),
    sa.Index(None, "status", "lease_expires_at"),
)

# Who owned a DID number or an outbound trunk when (cdrex.store.ownership): an import
# without --account gives each record to the owner of its DID or trunk at its time_start.
# One resource's intervals never overlap; ``until`` is exclusive, NULL while it lasts.
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource", sa.String(16), nullable=False),  # kinds.RESOURCES: did | trunk
    sa.Column("identifier", sa.String(36), nullable=False),  # the number, the trunk's UUID
    sa.Column("account_id", sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200)),  # the operator's label, shown in listings
    sa.Column("since", UtcDateTime),  # NULL: from the start
    sa.Column("until", UtcDateTime),
    sa.Index(None, "resource", "identifier", "since"),
)


# A callback owed for a finished export, and every attempt to deliver it. The row is
# written in the transaction that finishes the export, so a crash cannot lose it.
callback_deliveries = sa.Table(
    "callback_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "export_id", sa.ForeignKey("exports.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("event", sa.String(16), nullable=False),  # the export's status: completed|failed
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | dropped
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("due_at", UtcDateTime, nullable=False),  # also the lease while one is sending
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Index(None, "status", "due_at"),
)

callback_attempts = sa.Table(
    "callback_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "delivery_id",
        sa.ForeignKey("callback_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("attempted_at", UtcDateTime, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("elapsed_ms", sa.Integer, nullable=False),
)

_SQL_TYPES: dict[Kind, sa.types.TypeEngine] = {
    Kind.TIMESTAMP: sa.DateTime(timezone=True),
    Kind.TEXT: sa.Text(),
    Kind.INTEGER: sa.Integer(),
    Kind.AMOUNT: sa.BigInteger(),  # millionths: exact, and cheap to render with 3 decimals
}


def _record_columns(fields: tuple[Field, ...]) -> list[sa.Column]:
    return [
        sa.Column(field.name, _SQL_TYPES[field.kind], nullable=not field.required)
        for field in fields
    ]


def _cdr_table(name: str, fields: tuple[Field, ...]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.ForeignKey("accounts.id"), nullable=False),
        *_record_columns(fields),
        # SQLite: the cdr_imports row of the import that wrote the row; while it exists,
        # exports leave the row out (store/cdrs.py). None on PostgreSQL.
        sa.Column("import_id", sa.Integer),
        # The record's identity (cdrex.cdrs.identity): an account keeps one record of a
        # key and time_start, so importing a call again stores nothing. NULL for rows
        # imported before migration 0007, which nothing deduplicates against.
        sa.Column("call_key", sa.String(100)),
        # Exports read one account's calls of one period, newest first, ties by insertion.
        sa.Index(None, "account_id", "time_start", "id"),
        # Holds time_start: PostgreSQL's unique indexes on a partitioned table must.
        sa.Index(None, "account_id", "call_key", "time_start", unique=True),
    )


# On PostgreSQL those of the kinds partitioned_by_month are partitioned by month of
# time_start, with the primary key (id, time_start) (migrations 0002 and 0004);
# store/partitions.py keeps their partitions.
CDR_TABLES: dict[ExportType, sa.Table] = {
    export_type: _cdr_table(kind.table, kind.fields) for export_type, kind in KINDS.items()
}

# A SQLite import not yet published, being copied or discarded in slices (store/cdrs.py).
cdr_imports = sa.Table(
    "cdr_imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # No account: an import routed by DID or trunk holds rows of several (migration 0006).
    sa.Column("cdr_table", sa.String(16), nullable=False),  # a CDR_TABLES table's name
    sa.Column("status", sa.String(16), nullable=False),  # copying | discarding
    sa.Column("renewed_at", UtcDateTime, nullable=False),  # the lease: each slice renews it
    sa.Column("first_row_id", BigId, nullable=False),  # its rows have ids from here up
    # Ids are never reused: published rows keep theirs, and must stay apart from the next.
    sqlite_autoincrement=True,
)

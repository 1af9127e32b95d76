"""partition the CDR table by month of call start (PostgreSQL only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The rows of an existing table are copied into partitions of their months, ordered by
(account, time), and the plain table is dropped. SQLite keeps its plain table.

Frozen: the SQL is written out here, not taken from cdrex.store.partitions, so that later
changes there cannot change what this revision did to databases already past it.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "cdrs_in"
INDEX = "ix_cdrs_in_account_id_time_start_id"
DEFAULT = f"{TABLE}_default"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    # A partitioned table's primary key must hold the partition key: (id, time_start).
    old = _recreate(conn, "unpartitioned", "id, time_start", "PARTITION BY RANGE (time_start)")
    conn.exec_driver_sql(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
    months = conn.exec_driver_sql(
        f"SELECT DISTINCT CAST(extract(year FROM time_start AT TIME ZONE 'UTC') AS int), "
        f"CAST(extract(month FROM time_start AT TIME ZONE 'UTC') AS int) FROM {old}"
    ).all()
    for year, month in months:
        _create_partition(conn, year, month)
    _move_rows(conn, old, "account_id, time_start, id")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    _move_rows(conn, _recreate(conn, "partitioned", "id", ""), "id")


def _recreate(conn, suffix: str, primary_key: str, partitioning: str) -> str:  # type: ignore[no-untyped-def]
    """Rename the table (and its index and constraints) aside, create the new one in its
    place with the same columns and id sequence; return the old table's new name."""
    old = f"{TABLE}_{suffix}"
    conn.exec_driver_sql(f"ALTER TABLE {TABLE} RENAME TO {old}")
    conn.exec_driver_sql(f"ALTER INDEX {INDEX} RENAME TO {INDEX}_{suffix}")
    for constraint in ("pk_{}", "fk_{}_account_id_accounts"):
        conn.exec_driver_sql(
            f"ALTER TABLE {old} RENAME CONSTRAINT {constraint.format(TABLE)} "
            f"TO {constraint.format(old)}"
        )
    conn.exec_driver_sql(
        f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS, "
        f"CONSTRAINT pk_{TABLE} PRIMARY KEY ({primary_key}), "
        f"CONSTRAINT fk_{TABLE}_account_id_accounts FOREIGN KEY (account_id) "
        f"REFERENCES accounts (id)) {partitioning}"
    )
    conn.exec_driver_sql(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
    conn.exec_driver_sql(f"CREATE INDEX {INDEX} ON {TABLE} (account_id, time_start, id)")
    return old


def _create_partition(conn, year: int, month: int) -> None:  # type: ignore[no-untyped-def]
    """Create and attach one month's partition, moving in the rows the default holds."""
    name = f"{TABLE}_p{year:04d}_{month:02d}"
    after = (year + month // 12, month % 12 + 1)
    start = f"{year:04d}-{month:02d}-01T00:00:00+00:00"
    end = f"{after[0]:04d}-{after[1]:02d}-01T00:00:00+00:00"
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    in_month = f"time_start >= '{start}' AND time_start < '{end}'"
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE {in_month} RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved ORDER BY account_id, time_start, id"
    )
    conn.exec_driver_sql(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
    )


def _move_rows(conn, old: str, order: str) -> None:  # type: ignore[no-untyped-def]
    conn.exec_driver_sql(f"INSERT INTO {TABLE} SELECT * FROM {old} ORDER BY {order}")
    conn.exec_driver_sql(f"DROP TABLE {old}")

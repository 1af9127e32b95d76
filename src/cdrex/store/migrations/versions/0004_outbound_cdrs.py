"""outbound CDRs: cdrs_out, partitioned by month on PostgreSQL like cdrs_in

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Frozen: the columns are written out here, not derived from cdrex.cdrs.records, so that
later changes to the record fields cannot change what this revision created.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "cdrs_out"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    partitioning: dict[str, Any] = (
        {"postgresql_partition_by": "RANGE (time_start)"} if postgres else {}
    )
    # A partitioned table's primary key must hold the partition key.
    key = ("id", "time_start") if postgres else ("id",)
    op.create_table(
        TABLE,
        # bigserial on PostgreSQL, the rowid on SQLite
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("time_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_connect", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voice_out_trunk_id", sa.Text(), nullable=False),
        sa.Column("voice_out_trunk", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("cli", sa.Text(), nullable=True),
        sa.Column("destination_number", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("billing_duration", sa.Integer(), nullable=True),
        sa.Column("disconnect_code", sa.Integer(), nullable=True),
        sa.Column("disconnect_reason", sa.Text(), nullable=True),
        sa.Column("destination_country", sa.Text(), nullable=True),
        sa.Column("network", sa.Text(), nullable=True),
        sa.Column("call_type", sa.Text(), nullable=True),
        sa.Column("rate", sa.BigInteger(), nullable=True),
        sa.Column("charged", sa.BigInteger(), nullable=True),
        sa.Column("p_charge_info", sa.Text(), nullable=True),
        sa.Column("call_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{TABLE}_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{TABLE}")),
        **partitioning,
    )
    op.create_index(
        op.f(f"ix_{TABLE}_account_id_time_start_id"), TABLE, ["account_id", "time_start", "id"]
    )
    if postgres:  # months come from partition maintenance, which `cdrex migrate` runs
        op.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")


def downgrade() -> None:
    op.drop_table(TABLE)

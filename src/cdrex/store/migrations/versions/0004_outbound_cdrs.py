"""outbound CDRs: cdrs_out, partitioned by month on PostgreSQL like cdrs_in

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from cdrex.cdrs.records import OUTBOUND_FIELDS, Kind
from cdrex.store.partitions import default_partition_name

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "cdrs_out"
SQL_TYPES = {  # as of this revision
    Kind.TIMESTAMP: sa.DateTime(timezone=True),
    Kind.TEXT: sa.Text(),
    Kind.INTEGER: sa.Integer(),
    Kind.AMOUNT: sa.BigInteger(),
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
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
        *(
            sa.Column(field.name, SQL_TYPES[field.kind], nullable=not field.required)
            for field in OUTBOUND_FIELDS
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{TABLE}_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{TABLE}")),
        **({"postgresql_partition_by": "RANGE (time_start)"} if postgres else {}),
    )
    op.create_index(
        op.f(f"ix_{TABLE}_account_id_time_start_id"), TABLE, ["account_id", "time_start", "id"]
    )
    if postgres:  # months come from partition maintenance, which `cdrex migrate` runs
        op.execute(f"CREATE TABLE {default_partition_name(TABLE)} PARTITION OF {TABLE} DEFAULT")


def downgrade() -> None:
    op.drop_table(TABLE)

"""call keys: a CDR imported twice is stored once

Each CDR row gets the key of its call (cdrex.cdrs.identity) and a unique index on
(account_id, call_key, time_start). Adding a nullable column is instant on both backends;
the index is built over the rows there are, all of them NULL keys (which never conflict).
On PostgreSQL the index is made on the partitioned tables, and so on every partition.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CDR_TABLES = ("cdrs_in", "cdrs_out")


def upgrade() -> None:
    for table in CDR_TABLES:
        op.add_column(table, sa.Column("call_key", sa.String(length=100)))
        op.create_index(
            op.f(f"ix_{table}_account_id_call_key_time_start"),
            table,
            ["account_id", "call_key", "time_start"],
            unique=True,
        )


def downgrade() -> None:
    for table in CDR_TABLES:
        op.drop_index(op.f(f"ix_{table}_account_id_call_key_time_start"), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("call_key")

"""assignments: who owned a DID number or an outbound trunk when

An import without --account routes each CDR to the owner of its DID (inbound) or trunk
(outbound) at its time_start (see cdrex.store.ownership). Such an import holds rows of
several accounts, so cdr_imports (SQLite imports not yet published, a handful of rows at
most) no longer names one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=16), nullable=False),
        sa.Column("identifier", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_assignments_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(op.f("ix_assignments_account_id"), "assignments", ["account_id"], unique=False)
    op.create_index(
        op.f("ix_assignments_resource_identifier_since"),
        "assignments",
        ["resource", "identifier", "since"],
        unique=False,
    )

    with op.batch_alter_table("cdr_imports") as batch:
        batch.drop_column("account_id")


def downgrade() -> None:
    with op.batch_alter_table("cdr_imports") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_cdr_imports_account_id_accounts"), "accounts", ["account_id"], ["id"]
        )
    op.drop_table("assignments")

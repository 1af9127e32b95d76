"""imports in slices: cdr_imports, and the import each CDR row came with

SQLite imports commit in short slices; their rows stay out of exports while the import is
registered in cdr_imports (see cdrex.store.cdrs). Adding a nullable column without a
default is instant on both backends, however many rows the tables hold.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CDR_TABLES = ("cdrs_in", "cdrs_out")


def upgrade() -> None:
    for table in CDR_TABLES:
        op.add_column(table, sa.Column("import_id", sa.Integer()))
    op.create_table(
        "cdr_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("cdr_table", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "first_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_cdr_imports_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_imports")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("cdr_imports")
    for table in CDR_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("import_id")

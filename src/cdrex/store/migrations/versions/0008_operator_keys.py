"""operator keys: api_keys rows without an account

The operator API (POST /operator/v1/cdrs) takes keys of its own, kept hashed with the
customers' keys but with no account; the customers' API joins keys to accounts, so it
never takes one. SQLite rebuilds the small api_keys table to drop the NOT NULL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("account_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM api_keys WHERE account_id IS NULL")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("account_id", existing_type=sa.Integer(), nullable=False)

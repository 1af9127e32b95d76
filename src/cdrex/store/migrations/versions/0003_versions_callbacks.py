"""every API version: account default version and callback secret; export callback,
reference and outbound-trunk columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column(
            "api_version", sa.String(length=10), nullable=False, server_default="2017-09-18"
        ))
        batch.add_column(sa.Column("callback_secret", sa.String(length=200)))
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("voice_out_trunk_id", sa.String(length=36)))
        batch.add_column(sa.Column("callback_url", sa.Text()))
        batch.add_column(sa.Column("callback_method", sa.String(length=4)))
        batch.add_column(sa.Column("external_reference_id", sa.String(length=100)))


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        for column in ("external_reference_id", "callback_method", "callback_url",
                       "voice_out_trunk_id"):
            batch.drop_column(column)
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("callback_secret")
        batch.drop_column("api_version")

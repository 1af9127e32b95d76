"""every API version: account version and secret, export callback columns, callback queue

Accounts get their default API version and callback secret; exports their callback,
external reference, outbound-trunk and base-URL columns; callback deliveries and their
attempts get tables of their own.

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
        batch.add_column(
            sa.Column(
                "api_version", sa.String(length=10), nullable=False, server_default="2017-09-18"
            )
        )
        batch.add_column(sa.Column("callback_secret", sa.String(length=200)))
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("voice_out_trunk_id", sa.String(length=36)))
        batch.add_column(sa.Column("callback_url", sa.Text()))
        batch.add_column(sa.Column("callback_method", sa.String(length=4)))
        batch.add_column(sa.Column("external_reference_id", sa.String(length=100)))
        batch.add_column(sa.Column("base_url", sa.String(length=200)))
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["exports.id"],
            ondelete="CASCADE",
            name=op.f("fk_callback_deliveries_export_id_exports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_deliveries")),
    )
    op.create_index(op.f("ix_callback_deliveries_export_id"), "callback_deliveries", ["export_id"])
    op.create_index(
        op.f("ix_callback_deliveries_status_due_at"), "callback_deliveries", ["status", "due_at"]
    )
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["callback_deliveries.id"],
            ondelete="CASCADE",
            name=op.f("fk_callback_attempts_delivery_id_callback_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    op.create_index(op.f("ix_callback_attempts_delivery_id"), "callback_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("callback_attempts")
    op.drop_table("callback_deliveries")
    with op.batch_alter_table("exports") as batch:
        for column in (
            "base_url",
            "external_reference_id",
            "callback_method",
            "callback_url",
            "voice_out_trunk_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("callback_secret")
        batch.drop_column("api_version")

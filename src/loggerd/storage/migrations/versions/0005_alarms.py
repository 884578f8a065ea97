"""Alarms, their history, and how far each notification target has been sent it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chamber_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.Float(precision=53)),
        sa.Column("limit_value", sa.Float(precision=53)),
        sa.Column("raised_us", sa.BigInteger, nullable=False),
        sa.Column("cleared_us", sa.BigInteger),
        sa.Column("acked_us", sa.BigInteger),
        sa.Column("acked_by", sa.String(200)),
        sa.Column("ack_comment", sa.Text),
    )
    op.create_index("ix_alarms_raised", "alarms", ["raised_us"])
    op.create_index(
        "uq_alarms_open",
        "alarms",
        ["chamber_id", "kind", "subject"],
        unique=True,
        sqlite_where=sa.text("cleared_us IS NULL"),
        postgresql_where=sa.text("cleared_us IS NULL"),
    )
    op.create_table(
        "alarm_history",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.Integer, nullable=False),
        sa.Column("utc_us", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by", sa.String(200)),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("alarm_id", "utc_us", "action", name="uq_alarm_history"),
    )
    op.create_table(
        "alarm_deliveries",
        sa.Column("target", sa.String(200), primary_key=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("delivered_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alarm_deliveries")
    op.drop_table("alarm_history")
    op.drop_index("uq_alarms_open", "alarms")
    op.drop_index("ix_alarms_raised", "alarms")
    op.drop_table("alarms")

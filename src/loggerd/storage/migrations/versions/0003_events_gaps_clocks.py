"""Events, gaps in a logger's memory, clock checks, and the clock offset of logged records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("clock_offset_us", sa.BigInteger))
    op.create_table(
        "events",
        sa.Column("utc_us", sa.BigInteger, nullable=False),
        sa.Column("chamber_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("chamber_id", "device_id", "kind", "utc_us", name="pk_events"),
    )
    op.create_index("ix_events_utc", "events", ["utc_us"])
    op.create_table(
        "gaps",
        sa.Column("chamber_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("first_sequence", sa.BigInteger, nullable=False),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("start_us", sa.BigInteger),
        sa.Column("end_us", sa.BigInteger),
        sa.Column("detected_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("chamber_id", "device_id", "first_sequence", name="pk_gaps"),
    )
    op.create_table(
        "clock_checks",
        sa.Column("chamber_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("utc_us", sa.BigInteger, nullable=False),
        sa.Column("offset_us", sa.BigInteger, nullable=False),
        sa.Column("uncertainty_us", sa.BigInteger, nullable=False),
        sa.Column("rtt_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("chamber_id", "device_id", "utc_us", name="pk_clock_checks"),
    )


def downgrade() -> None:
    op.drop_table("clock_checks")
    op.drop_table("gaps")
    op.drop_index("ix_events_utc", "events")
    op.drop_table("events")
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("clock_offset_us")

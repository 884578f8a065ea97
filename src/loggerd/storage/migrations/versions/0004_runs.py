"""Test runs: a chamber under a test profile for a span of time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chamber_id", sa.String(64), nullable=False),
        sa.Column("test_id", sa.String(200), nullable=False),
        sa.Column("unit_under_test", sa.String(200), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("start_us", sa.BigInteger, nullable=False),
        sa.Column("end_us", sa.BigInteger),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_chamber_start", "runs", ["chamber_id", "start_us"])
    op.create_index(
        "uq_runs_open_chamber",
        "runs",
        ["chamber_id"],
        unique=True,
        sqlite_where=sa.text("end_us IS NULL"),
        postgresql_where=sa.text("end_us IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_runs_open_chamber", "runs")
    op.drop_index("ix_runs_chamber_start", "runs")
    op.drop_table("runs")

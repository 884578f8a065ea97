"""Samples record the expanded uncertainty of their value and how a derived value was computed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable and without a default: adding them rewrites nothing on either engine.
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("uncertainty", sa.Float(precision=53)))
        batch.add_column(sa.Column("method", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("method")
        batch.drop_column("uncertainty")

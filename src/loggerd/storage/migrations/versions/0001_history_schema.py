"""History schema: chambers, devices, channels, samples and the 1m/10m/1h/1d rollups.

A database written by loggerd 0.1 (tables made without migrations) is adopted: its channels and
samples are copied into the new tables and its rollups are computed from the samples.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen here on purpose: a migration describes the schema as it was at this revision.
TIERS = {"1m": 60, "10m": 600, "1h": 3600, "1d": 86400}
DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    legacy = inspector.has_table("samples")
    if legacy:
        # loggerd 0.1: same chambers table; channels and samples gain columns and keys.
        op.rename_table("channels", "legacy_channels")
        op.rename_table("samples", "legacy_samples")
    else:
        op.create_table(
            "chambers",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("name", sa.String(200)),
        )
    op.create_table(
        "devices",
        sa.Column("key", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chamber_id", sa.String(64), sa.ForeignKey("chambers.id"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("driver", sa.String(64)),
        sa.UniqueConstraint("chamber_id", "device_id", name="uq_devices_chamber_device"),
    )
    op.create_table(
        "channels",
        sa.Column("key", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chamber_id", sa.String(64), sa.ForeignKey("chambers.id"), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("device_key", sa.Integer, sa.ForeignKey("devices.key"), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("point", sa.String(64), nullable=False),
        sa.Column("quantity", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.UniqueConstraint("chamber_id", "channel_id", name="uq_channels_chamber_channel"),
    )
    op.create_table(
        "samples",
        sa.Column("channel_key", sa.Integer, nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("value", DOUBLE),
        sa.Column("raw_value", DOUBLE),
        sa.Column("quality", sa.String(16), nullable=False),
        sa.Column("time_source", sa.String(8), nullable=False),
        sa.Column("sequence", sa.BigInteger),
        sa.Column("calibration_version", sa.Integer),
        sa.PrimaryKeyConstraint("channel_key", "ts_us", name="pk_samples"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "uq_samples_channel_sequence",
        "samples",
        ["channel_key", "sequence"],
        unique=True,
        sqlite_where=sa.text("sequence IS NOT NULL"),
        postgresql_where=sa.text("sequence IS NOT NULL"),
    )
    for name in TIERS:
        op.create_table(
            f"rollup_{name}",
            sa.Column("channel_key", sa.Integer, nullable=False),
            sa.Column("bucket_us", sa.BigInteger, nullable=False),
            sa.Column("sample_count", sa.BigInteger, nullable=False),
            sa.Column("value_sum", DOUBLE, nullable=False),
            sa.Column("value_min", DOUBLE, nullable=False),
            sa.Column("value_max", DOUBLE, nullable=False),
            sa.Column("first_ts_us", sa.BigInteger, nullable=False),
            sa.Column("first_value", DOUBLE, nullable=False),
            sa.Column("last_ts_us", sa.BigInteger, nullable=False),
            sa.Column("last_value", DOUBLE, nullable=False),
            sa.PrimaryKeyConstraint("channel_key", "bucket_us", name=f"pk_rollup_{name}"),
            sqlite_with_rowid=False,
        )
    if legacy:
        _adopt_legacy()


def _adopt_legacy() -> None:
    op.execute(
        "INSERT INTO devices (chamber_id, device_id) "
        "SELECT DISTINCT chamber_id, device_id FROM legacy_channels"
    )
    op.execute(
        "INSERT INTO channels (key, chamber_id, channel_id, device_key, point, quantity, unit) "
        "SELECT l.key, l.chamber_id, l.channel_id, d.key, l.point, l.quantity, l.unit "
        "FROM legacy_channels l JOIN devices d "
        "ON d.chamber_id = l.chamber_id AND d.device_id = l.device_id"
    )
    op.execute(
        "INSERT INTO samples (channel_key, ts_us, value, raw_value, quality, time_source, "
        "sequence) SELECT channel_key, ts_us, value, raw_value, quality, time_source, sequence "
        "FROM legacy_samples"
    )
    op.drop_table("legacy_samples")
    op.drop_table("legacy_channels")
    for name, width_s in TIERS.items():
        w = width_s * 1_000_000
        op.execute(
            f"INSERT INTO rollup_{name} (channel_key, bucket_us, sample_count, value_sum, "
            "value_min, value_max, first_ts_us, first_value, last_ts_us, last_value) "
            "SELECT g.channel_key, g.bucket_us, g.n, g.s, g.lo, g.hi, g.f, "
            "(SELECT value FROM samples x WHERE x.channel_key = g.channel_key "
            "AND x.ts_us = g.f), g.l, "
            "(SELECT value FROM samples x WHERE x.channel_key = g.channel_key "
            "AND x.ts_us = g.l) "
            f"FROM (SELECT channel_key, (ts_us / {w}) * {w} AS bucket_us, count(*) AS n, "
            "sum(value) AS s, min(value) AS lo, max(value) AS hi, min(ts_us) AS f, "
            "max(ts_us) AS l FROM samples WHERE value IS NOT NULL AND quality = 'good' "
            f"GROUP BY channel_key, (ts_us / {w}) * {w}) g"
        )


def downgrade() -> None:
    for name in reversed(TIERS):
        op.drop_table(f"rollup_{name}")
    op.drop_index("uq_samples_channel_sequence", "samples")
    op.drop_table("samples")
    op.drop_table("channels")
    op.drop_table("devices")
    op.drop_table("chambers")

"""The history's tables, in SQLAlchemy Core: chambers, devices, channels, samples and rollups.

This is the schema the code reads and writes; the Alembic scripts in `loggerd/migrations` build
it in a database (a test checks that the two agree). Timestamps are UTC microseconds since the
Unix epoch (BIGINT) on both engines, so that no time zone can creep in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

chambers = Table(
    "chambers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200)),
)

devices = Table(
    "devices",
    metadata,
    Column("key", Integer, primary_key=True, autoincrement=True),
    Column("chamber_id", String(64), ForeignKey("chambers.id"), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("driver", String(64)),
    UniqueConstraint("chamber_id", "device_id", name="uq_devices_chamber_device"),
)

channels = Table(
    "channels",
    metadata,
    Column("key", Integer, primary_key=True, autoincrement=True),
    Column("chamber_id", String(64), ForeignKey("chambers.id"), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("device_key", Integer, ForeignKey("devices.key"), nullable=False),
    Column("name", String(200)),
    Column("point", String(64), nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("unit", String(32), nullable=False),
    UniqueConstraint("chamber_id", "channel_id", name="uq_channels_chamber_channel"),
)

samples = Table(
    "samples",
    metadata,
    # No foreign key on the big tables: keys come from the catalog, and a per-row check halves
    # PostgreSQL's COPY rate (measured: 310k -> 145k rows/s).
    Column("channel_key", Integer, nullable=False),
    Column("ts_us", BigInteger, nullable=False),  # UTC, microseconds since the epoch
    Column("value", Float(precision=53)),  # NULL when there is no usable value
    Column("raw_value", Float(precision=53)),
    Column("quality", String(16), nullable=False),
    Column("time_source", String(8), nullable=False),
    Column("sequence", BigInteger),  # the logger's record sequence number, when known
    Column("calibration_version", Integer),  # the calibration applied to value, when known
    Column("uncertainty", Float(precision=53)),  # expanded (k = 2) uncertainty of value
    Column("method", String(32)),  # how a derived value was computed (its formulation)
    # For a record from a logger's memory, the clock offset (logger minus host) its timestamp
    # was corrected by: the logger's own time is ts_us + clock_offset_us, kept exactly.
    Column("clock_offset_us", BigInteger),
    # One row per channel and instant, and per channel and logger record: a retried write or
    # an overlapping download of the logger's memory can never duplicate a sample.
    PrimaryKeyConstraint("channel_key", "ts_us", name="pk_samples"),
    Index(
        "uq_samples_channel_sequence",
        "channel_key",
        "sequence",
        unique=True,
        sqlite_where=text("sequence IS NOT NULL"),
        postgresql_where=text("sequence IS NOT NULL"),
    ),
    # Keyed on (channel, time) and nothing else: a WITHOUT ROWID table measured 28 % smaller
    # and faster to fill than a rowid table with a unique index (SQLite, 2.6 M rows).
    sqlite_with_rowid=False,
)


# What happened besides measurements (events.py). Keyed so that writing one twice (a spool
# drained again after a crash) leaves one row. "" stands for "no chamber" or "no device".
events = Table(
    "events",
    metadata,
    Column("utc_us", BigInteger, nullable=False),
    Column("chamber_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON
    PrimaryKeyConstraint("chamber_id", "device_id", "kind", "utc_us", name="pk_events"),
    Index("ix_events_utc", "utc_us"),
)

# Spans of a logger's records lost for good (overwritten in its memory before being read).
gaps = Table(
    "gaps",
    metadata,
    Column("chamber_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("first_sequence", BigInteger, nullable=False),
    Column("last_sequence", BigInteger, nullable=False),
    Column("start_us", BigInteger),
    Column("end_us", BigInteger),
    Column("detected_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("chamber_id", "device_id", "first_sequence", name="pk_gaps"),
)

# Every measurement of a logger's clock against the host's.
clock_checks = Table(
    "clock_checks",
    metadata,
    Column("chamber_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("utc_us", BigInteger, nullable=False),
    Column("offset_us", BigInteger, nullable=False),  # logger minus host
    Column("uncertainty_us", BigInteger, nullable=False),
    Column("rtt_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("chamber_id", "device_id", "utc_us", name="pk_clock_checks"),
)

# Test runs: a chamber under a test profile for a span of time (end_us NULL while it runs).
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chamber_id", String(64), nullable=False),
    Column("test_id", String(200), nullable=False),
    Column("unit_under_test", String(200), nullable=False),
    Column("operator", String(200), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger),
    Column("profile", Text, nullable=False),  # JSON (core/profiles.py)
    Column("created_us", BigInteger, nullable=False),
    Column("notes", Text, nullable=False),
    Index("ix_runs_chamber_start", "chamber_id", "start_us"),
    # One open run per chamber, held by the database too (two clients creating at once).
    Index(
        "uq_runs_open_chamber",
        "chamber_id",
        unique=True,
        sqlite_where=text("end_us IS NULL"),
        postgresql_where=text("end_us IS NULL"),
    ),
)

# Alarms (alarms/): one row per alarm from raised to cleared, acknowledged by a person; the
# history of each (raised, acknowledged, cleared) beside it. One open alarm per condition.
alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chamber_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),  # a channel, or a device
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("value", Float(precision=53)),
    Column("limit_value", Float(precision=53)),
    Column("raised_us", BigInteger, nullable=False),
    Column("cleared_us", BigInteger),
    Column("acked_us", BigInteger),
    Column("acked_by", String(200)),
    Column("ack_comment", Text),
    Index("ix_alarms_raised", "raised_us"),
    Index(
        "uq_alarms_open",
        "chamber_id",
        "kind",
        "subject",
        unique=True,
        sqlite_where=text("cleared_us IS NULL"),
        postgresql_where=text("cleared_us IS NULL"),
    ),
)

# `seq` numbers the actions in the order they were stored: each notification target keeps
# the last seq it delivered (alarm_deliveries), so nothing is sent twice or skipped.
alarm_history = Table(
    "alarm_history",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", Integer, nullable=False),
    Column("utc_us", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),  # raised | acknowledged | cleared
    Column("by", String(200)),
    Column("text", Text, nullable=False),
    UniqueConstraint("alarm_id", "utc_us", "action", name="uq_alarm_history"),
)

alarm_deliveries = Table(
    "alarm_deliveries",
    metadata,
    Column("target", String(200), primary_key=True),  # e.g. webhook:https://… or mqtt:…
    Column("last_seq", Integer, nullable=False),
    Column("delivered_us", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Tier:
    """One rollup: per channel and bucket of `width_s`, aggregates of the good values."""

    name: str
    width_s: int

    @property
    def width_us(self) -> int:
        return self.width_s * 1_000_000

    @property
    def table_name(self) -> str:
        return f"rollup_{self.name}"


# Each width divides the next, so a bucket of a coarse tier is exactly a run of finer buckets
# and a query can stitch tiers together without splitting any bucket.
TIERS: tuple[Tier, ...] = (
    Tier("1m", 60),
    Tier("10m", 600),
    Tier("1h", 3600),
    Tier("1d", 86400),
)


def _rollup_table(tier: Tier) -> Table:
    return Table(
        tier.table_name,
        metadata,
        Column("channel_key", Integer, nullable=False),
        Column("bucket_us", BigInteger, nullable=False),  # bucket start, UTC µs since epoch
        Column("sample_count", BigInteger, nullable=False),  # good values in the bucket
        Column("value_sum", Float(precision=53), nullable=False),
        Column("value_min", Float(precision=53), nullable=False),
        Column("value_max", Float(precision=53), nullable=False),
        Column("first_ts_us", BigInteger, nullable=False),
        Column("first_value", Float(precision=53), nullable=False),
        Column("last_ts_us", BigInteger, nullable=False),
        Column("last_value", Float(precision=53), nullable=False),
        PrimaryKeyConstraint("channel_key", "bucket_us", name=f"pk_{tier.table_name}"),
        sqlite_with_rowid=False,
    )


rollup_tables: dict[str, Table] = {tier.name: _rollup_table(tier) for tier in TIERS}

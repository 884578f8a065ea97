"""History: samples in a relational store through SQLAlchemy 2.x Core (SQLite by default).

Knows nothing of hardware. Timestamps are UTC microseconds since the Unix epoch (BIGINT), so
that both engines store the same integers and no time zone can creep in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .errors import LoggerdError
from .samples import Quality, Sample, TimeSource

metadata = MetaData()

chambers = Table(
    "chambers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200)),
)

channels = Table(
    "channels",
    metadata,
    Column("key", Integer, primary_key=True, autoincrement=True),
    Column("chamber_id", String(64), ForeignKey("chambers.id"), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("point", String(64), nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("unit", String(32), nullable=False),
    UniqueConstraint("chamber_id", "channel_id"),
)

samples = Table(
    "samples",
    metadata,
    Column("channel_key", Integer, ForeignKey("channels.key"), nullable=False),
    Column("ts_us", BigInteger, nullable=False),  # UTC, microseconds since the epoch
    Column("value", Float(precision=53)),  # NULL when there is no usable value
    Column("raw_value", Float(precision=53)),
    Column("quality", String(16), nullable=False),
    Column("time_source", String(8), nullable=False),
    Column("sequence", BigInteger),  # the logger's record sequence number, when known
    # One row per channel and instant: a retried write can never duplicate a sample.
    PrimaryKeyConstraint("channel_key", "ts_us"),
    sqlite_with_rowid=False,
)


class StoreError(LoggerdError):
    """The store cannot be reached or refused a write; nothing was written."""


@dataclass(frozen=True)
class ChannelRow:
    chamber_id: str
    channel_id: str
    device_id: str
    point: str
    quantity: str
    unit: str


@dataclass(frozen=True)
class StoredSample:
    channel_id: str
    timestamp_us: int
    value: float | None
    raw_value: float | None
    quality: Quality
    time_source: TimeSource
    sequence: int | None


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'loggerd.db'}"


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


class Store:
    """The sample history. Thread-safe through SQLAlchemy's pool; calls block."""

    def __init__(self, url: str, synchronous: str = "FULL", busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # How long a write waits for another process's lock before it counts as failed.
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            self._sqlite_pragmas(synchronous)
        self._keys: dict[tuple[str, str], int] = {}

    def _sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    def open(
        self, chamber_names: dict[str, str | None], channel_rows: Sequence[ChannelRow]
    ) -> None:
        """Create the schema if needed and register chambers and channels."""
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                have = {r.id for r in conn.execute(select(chambers.c.id))}
                for cid, name in chamber_names.items():
                    if cid not in have:
                        conn.execute(chambers.insert().values(id=cid, name=name))
                known = {
                    (r.chamber_id, r.channel_id): r.key
                    for r in conn.execute(
                        select(channels.c.key, channels.c.chamber_id, channels.c.channel_id)
                    )
                }
                for row in channel_rows:
                    values = dict(
                        device_id=row.device_id,
                        point=row.point,
                        quantity=row.quantity,
                        unit=row.unit,
                    )
                    k = (row.chamber_id, row.channel_id)
                    if k in known:
                        conn.execute(
                            channels.update().where(channels.c.key == known[k]).values(**values)
                        )
                    else:
                        result = conn.execute(
                            channels.insert().values(
                                chamber_id=row.chamber_id, channel_id=row.channel_id, **values
                            )
                        )
                        known[k] = result.inserted_primary_key[0]  # type: ignore[index]
            self._keys = known
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {self._safe_url()}: {exc}") from exc

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _insert(self) -> Any:
        if self.is_sqlite:
            return sqlite.insert(samples).on_conflict_do_nothing()
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(samples).on_conflict_do_nothing()
        return samples.insert()

    def write(self, batch: Iterable[Sample]) -> int:
        """Write samples in one transaction; a sample already stored is left as it is."""
        rows = [
            {
                "channel_key": self._keys[(s.chamber_id, s.channel_id)],
                "ts_us": s.timestamp_us,
                "value": _nan_to_none(s.value),
                "raw_value": _nan_to_none(s.raw_value),
                "quality": s.quality.value,
                "time_source": s.time_source.value,
                "sequence": s.sequence,
            }
            for s in batch
        ]
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(self._insert(), rows)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"write of {len(rows)} samples to {self._safe_url()} failed: {exc}"
            ) from exc
        return len(rows)

    def history(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> Iterator[StoredSample]:
        """Samples in [start_us, end_us), by time then channel. Streams from the database."""
        keys = {self._keys[(chamber_id, c)]: c for c in channel_ids}
        query = (
            select(samples)
            .where(samples.c.channel_key.in_(list(keys)))
            .where(samples.c.ts_us >= start_us, samples.c.ts_us < end_us)
            .order_by(samples.c.ts_us, samples.c.channel_key)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            for r in conn.execution_options(yield_per=5000).execute(query):
                yield StoredSample(
                    channel_id=keys[r.channel_key],
                    timestamp_us=r.ts_us,
                    value=r.value,
                    raw_value=r.raw_value,
                    quality=Quality(r.quality),
                    time_source=TimeSource(r.time_source),
                    sequence=r.sequence,
                )

    def count(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(samples)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()

"""Reading history: stored samples of channels over a range, the newest ones, counts, where a
device's records end, and the rows downsampling is built from (raw samples and rollup rows).

Every query of the samples and rollup tables made on behalf of a caller is here, so that
downsampling, exports and the API never reach for the engine or the tables themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from loggerd.core.samples import Quality, TimeSource
from loggerd.storage.catalog import Catalog
from loggerd.storage.database import Database
from loggerd.storage.model import StoredSample
from loggerd.storage.rollups import COUNTED
from loggerd.storage.schema import Tier, rollup_tables, samples

__all__ = ["HistoryReader", "RawSamples", "RollupRows"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_COUNTED = sorted(COUNTED)  # a list, for IN (...) in a stable order
# The connection of the one_connection() block under way in this thread, if any.
_SESSION: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
    "history_reader_connection", default=None
)


@dataclass(frozen=True)
class RawSamples:
    """Some of a channel's samples as columns, in time order."""

    ts_us: I64
    value: F64  # NaN where the value is missing
    quality: list[str]

    def __len__(self) -> int:
        return len(self.ts_us)


@dataclass(frozen=True)
class RollupRows:
    """Some of a channel's rollup rows of one tier as columns, in bucket order."""

    bucket_us: I64
    count: I64
    total: F64
    minimum: F64
    maximum: F64

    def __len__(self) -> int:
        return len(self.bucket_us)


class HistoryReader:
    """Reads the samples and rollups of one database; calls block, history() streams."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self._db = db
        self._catalog = catalog

    def history(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> Iterator[StoredSample]:
        """Samples in [start_us, end_us), by time then channel. Streams from the database."""
        keys = {self._catalog.channel(chamber_id, c).key: c for c in channel_ids}
        query = (
            select(samples)
            .where(samples.c.channel_key.in_(list(keys)))
            .where(samples.c.ts_us >= start_us, samples.c.ts_us < end_us)
            .order_by(samples.c.ts_us, samples.c.channel_key)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._db.engine.connect() as conn:
            # yield_per streams (a server-side cursor on PostgreSQL): memory stays flat. The
            # result is closed even when the reader stops early (a client that hangs up).
            result = conn.execution_options(yield_per=5000).execute(query)
            try:
                yield from _stored(result, keys)
            finally:
                result.close()

    def latest(self, chamber_id: str) -> dict[str, StoredSample | None]:
        """The newest stored sample of each of the chamber's channels (for API replicas that
        run no acquisition, and so have no ring)."""
        metas = self._catalog.chamber_channels(chamber_id)
        out: dict[str, StoredSample | None] = {}
        with self._db.reading(), self._db.engine.connect() as conn:
            for m in metas:
                rows = conn.execute(
                    select(samples)
                    .where(samples.c.channel_key == m.key)
                    .order_by(samples.c.ts_us.desc())
                    .limit(1)
                )
                out[m.channel_id] = next(_stored(rows, {m.key: m.channel_id}), None)
        return out

    def count(
        self,
        chamber_id: str | None = None,
        channel_ids: Sequence[str] = (),
        start_us: int | None = None,
        end_us: int | None = None,
    ) -> int:
        """Stored samples: all of them, or of some channels in [start_us, end_us)."""
        query = select(func.count()).select_from(samples)
        if chamber_id is not None:
            keys = [self._catalog.channel(chamber_id, c).key for c in channel_ids]
            query = query.where(samples.c.channel_key.in_(keys))
        if start_us is not None:
            query = query.where(samples.c.ts_us >= start_us)
        if end_us is not None:
            query = query.where(samples.c.ts_us < end_us)
        with self._db.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def device_cursor(
        self, chamber_id: str, channel_ids: Sequence[str]
    ) -> tuple[int, int, int | None] | None:
        """The logger record up to which every one of the device's channels is stored, its
        (corrected) time and the logger's own time of it: the smallest, over the channels,
        of the newest stored sequence number (None: none yet).

        A record's samples can be split over two transactions, so a crash may leave the
        newest record on some channels only; resuming from the smallest re-reads it, and the
        store's keys make the re-read harmless."""
        newest: list[tuple[int, int, int | None]] = []
        with self._db.reading(), self._db.engine.connect() as conn:
            for c in channel_ids:
                key = self._catalog.channel(chamber_id, c).key
                row = conn.execute(
                    select(samples.c.sequence, samples.c.ts_us, samples.c.clock_offset_us)
                    .where((samples.c.channel_key == key) & samples.c.sequence.is_not(None))
                    .order_by(samples.c.sequence.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    logger_time = None if row[2] is None else int(row[1]) + int(row[2])
                    newest.append((int(row[0]), int(row[1]), logger_time))
        return min(newest) if newest else None

    # What downsampling is built from. Errors say "history query ... failed", as the API
    # reports them.

    def raw_samples(self, key: int, start_us: int, end_us: int, limit: int) -> RawSamples:
        """A channel's first `limit` samples in [start_us, end_us): time, value, quality."""
        query = (
            select(samples.c.ts_us, samples.c.value, samples.c.quality)
            .where(samples.c.channel_key == key, samples.c.ts_us >= start_us)
            .where(samples.c.ts_us < end_us)
            .order_by(samples.c.ts_us)
            .limit(limit)
        )
        rows = self._query(query)
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        value = np.array([r[1] for r in rows], dtype=np.float64)  # None -> NaN
        return RawSamples(ts, value, [r[2] for r in rows])

    def counted_values(self, key: int, start_us: int, end_us: int) -> tuple[I64, F64]:
        """Times and values of a channel's samples in [start_us, end_us) whose value counts
        (as in the rollups: see rollups.COUNTED), in time order."""
        rows = self._query(
            select(samples.c.ts_us, samples.c.value)
            .where(
                samples.c.channel_key == key,
                samples.c.ts_us >= start_us,
                samples.c.ts_us < end_us,
                samples.c.value.is_not(None),
                samples.c.quality.in_(_COUNTED),
            )
            .order_by(samples.c.ts_us)
        )
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        cols = list(zip(*rows, strict=True))
        return np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.float64)

    def rollup_rows(self, tier: Tier, key: int, start_us: int, end_us: int) -> RollupRows:
        """A channel's rows of one rollup tier whose bucket starts in [start_us, end_us)."""
        t = rollup_tables[tier.name]
        rows = self._query(
            select(t.c.bucket_us, t.c.sample_count, t.c.value_sum, t.c.value_min, t.c.value_max)
            .where(t.c.channel_key == key, t.c.bucket_us >= start_us, t.c.bucket_us < end_us)
            .order_by(t.c.bucket_us)
        )
        cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 5
        return RollupRows(
            np.array(cols[0], dtype=np.int64),
            np.array(cols[1], dtype=np.int64),
            np.array(cols[2], dtype=np.float64),
            np.array(cols[3], dtype=np.float64),
            np.array(cols[4], dtype=np.float64),
        )

    def quality_counts(self, key: int, start_us: int, end_us: int) -> dict[str, tuple[int, float]]:
        """Per quality word, a channel's samples in [start_us, end_us) and the largest expanded
        uncertainty among them (NaN where none states one): a report's completeness."""
        rows = self._query(
            select(samples.c.quality, func.count(), func.max(samples.c.uncertainty))
            .where(
                samples.c.channel_key == key,
                samples.c.ts_us >= start_us,
                samples.c.ts_us < end_us,
            )
            .group_by(samples.c.quality)
        )
        return {str(q): (int(n), math.nan if u is None else float(u)) for q, n, u in rows}

    @contextlib.contextmanager
    def one_connection(self) -> Iterator[None]:
        """The reads made inside share one connection (one pool checkout, and on SQLite one
        read snapshot), as the several queries of one downsampled series should."""
        db = self._db
        with db.failing_as(f"history query on {db.url} failed"), db.engine.connect() as conn:
            token = _SESSION.set(conn)
            try:
                yield
            finally:
                _SESSION.reset(token)

    def _query(self, query: Any) -> list[Any]:
        db = self._db
        with db.failing_as(f"history query on {db.url} failed"):
            conn = _SESSION.get()
            if conn is not None:
                return list(conn.execute(query).all())
            with db.engine.connect() as own:
                return list(own.execute(query).all())


def _stored(result: Any, keys: dict[int, str]) -> Iterator[StoredSample]:
    for r in result:
        yield StoredSample(
            channel_id=keys[r.channel_key],
            timestamp_us=r.ts_us,
            value=r.value,
            raw_value=r.raw_value,
            quality=Quality(r.quality),
            time_source=TimeSource(r.time_source),
            sequence=r.sequence,
            calibration_version=r.calibration_version,
            uncertainty=r.uncertainty,
            method=r.method,
            clock_offset_us=r.clock_offset_us,
        )

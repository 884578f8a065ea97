"""Re-correction: a channel's stored samples corrected again from their raw values (a replaced
calibration certificate), and the rollup buckets they touch rebuilt, in one transaction."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, delete, select, update

from loggerd.core.samples import Quality
from loggerd.storage import rollups
from loggerd.storage.catalog import Catalog
from loggerd.storage.database import Database
from loggerd.storage.schema import TIERS, rollup_tables, samples

__all__ = ["Recorrection", "Recorrector"]

# raw values, probe temperatures -> (values, uncertainties, out-of-range mask, version)
Recorrection = Callable[
    [np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]],
    tuple[
        np.ndarray[Any, np.dtype[np.float64]],
        np.ndarray[Any, np.dtype[np.float64]],
        np.ndarray[Any, np.dtype[np.bool_]],
        int,
    ],
]

_CANDIDATES = (Quality.GOOD.value, Quality.CAL_OUT_OF_RANGE.value)


class Recorrector:
    """Corrects stored samples of one database again; calls block."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self._db = db
        self._catalog = catalog
        self._merger = rollups.Merger(db.is_sqlite)

    def recorrect(
        self,
        chamber_id: str,
        channel_id: str,
        correct: Recorrection,
        start_us: int,
        end_us: int,
        probe_channel_id: str | None = None,
    ) -> int:
        """Correct a channel's stored samples again from their raw values; how many changed
        (see Store.recorrect)."""
        key = self._catalog.channel(chamber_id, channel_id).key
        db = self._db
        failed = f"re-correction of {chamber_id}/{channel_id} failed"
        with db.failing_as(failed), db.engine.begin() as conn:
            ts, raw = self._candidates(conn, key, start_us, end_us)
            if not len(ts):
                return 0
            probe = np.full(len(ts), np.nan)
            if probe_channel_id is not None:
                probe_key = self._catalog.channel(chamber_id, probe_channel_id).key
                probe = self._probe(conn, probe_key, ts)
            params = _updates(key, ts, *correct(raw, probe))
            conn.execute(
                update(samples)
                .where(
                    (samples.c.channel_key == bindparam("k")) & (samples.c.ts_us == bindparam("t"))
                )
                .values(
                    value=bindparam("v"),
                    uncertainty=bindparam("u"),
                    quality=bindparam("q"),
                    calibration_version=bindparam("c"),
                ),
                params,
            )
            self._rebuild_rollups(conn, key, int(ts[0]), int(ts[-1]) + 1)
        return len(params)

    @staticmethod
    def _candidates(
        conn: Connection, key: int, start_us: int, end_us: int
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.float64]]]:
        """Times and raw values of the samples to correct again, in time order: those with a
        raw value whose value came from a correction (good, or flagged out of range)."""
        found = conn.execute(
            select(samples.c.ts_us, samples.c.raw_value)
            .where(
                (samples.c.channel_key == key)
                & (samples.c.ts_us >= start_us)
                & (samples.c.ts_us < end_us)
                & samples.c.raw_value.is_not(None)
                & samples.c.quality.in_(_CANDIDATES)
            )
            .order_by(samples.c.ts_us)
        ).all()
        ts = np.array([r.ts_us for r in found], dtype=np.int64)
        raw = np.array([r.raw_value for r in found], dtype=np.float64)
        return ts, raw

    @staticmethod
    def _probe(
        conn: Connection, probe_key: int, ts: np.ndarray[Any, np.dtype[np.int64]]
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The probe channel's value at each of the instants `ts`, NaN where it has none."""
        rows = conn.execute(
            select(samples.c.ts_us, samples.c.value).where(
                (samples.c.channel_key == probe_key)
                & (samples.c.ts_us >= int(ts[0]))
                & (samples.c.ts_us <= int(ts[-1]))
            )
        ).all()
        at = {r.ts_us: r.value for r in rows if r.value is not None}
        return np.array([at.get(int(t), np.nan) for t in ts], dtype=np.float64)

    def _rebuild_rollups(self, conn: Connection, key: int, start_us: int, end_us: int) -> None:
        """Recompute a channel's rollup buckets over [start_us, end_us) from its samples."""
        widest = TIERS[-1].width_us
        lo = start_us // widest * widest
        hi = -(-end_us // widest) * widest
        for tier in TIERS:
            table = rollup_tables[tier.name]
            conn.execute(
                delete(table).where(
                    (table.c.channel_key == key)
                    & (table.c.bucket_us >= lo)
                    & (table.c.bucket_us < hi)
                )
            )
        rows = conn.execute(
            select(samples.c.ts_us, samples.c.value, samples.c.quality).where(
                (samples.c.channel_key == key) & (samples.c.ts_us >= lo) & (samples.c.ts_us < hi)
            )
        ).all()
        if not rows:
            return
        ts = np.array([r.ts_us for r in rows], dtype=np.int64)
        counted = rollups.COUNTED
        value = np.array(
            [r.value if r.value is not None and r.quality in counted else math.nan for r in rows],
            dtype=np.float64,
        )
        order = np.argsort(ts, kind="stable")
        keys = np.full(len(ts), key, dtype=np.int64)
        for sql, params in self._merger.statements(rollups.per_tier(keys, ts[order], value[order])):
            conn.exec_driver_sql(sql, params)


def _updates(
    key: int,
    ts: np.ndarray[Any, np.dtype[np.int64]],
    value: np.ndarray[Any, np.dtype[np.float64]],
    uncertainty: np.ndarray[Any, np.dtype[np.float64]],
    outside: np.ndarray[Any, np.dtype[np.bool_]],
    version: int,
) -> list[dict[str, Any]]:
    """The UPDATE's parameters, one dict per sample, from what the correction returned."""
    return [
        {
            "k": key,
            "t": int(t),
            "v": None if o or math.isnan(v) else float(v),
            "u": None if o or math.isnan(u) else float(u),
            # NaN without the out-of-range flag: the correction had no input (a 2-D table
            # with no probe temperature at that instant): no value.
            "q": (
                Quality.CAL_OUT_OF_RANGE.value
                if o
                else Quality.INVALID.value
                if math.isnan(v)
                else Quality.GOOD.value
            ),
            "c": version,
        }
        for t, v, u, o in zip(ts, value, uncertainty, outside, strict=True)
    ]

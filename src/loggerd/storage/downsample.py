"""Downsampled history: at most `max_points` per request, from raw samples or the coarsest
adequate rollup, each point with mean, min, max and count so that no spike hides in a mean.

Exact, not approximate: output buckets are whole multiples of the chosen tier's width, aligned
to it, so every rollup row falls in exactly one output bucket; the ragged ends of the range are
filled from finer tiers and finally raw samples, never by taking a rollup row that reaches
outside [start, end).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loggerd.storage.database import said
from loggerd.storage.schema import TIERS, Tier
from loggerd.storage.store import ChannelMeta, Store, StoreError

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# A tier is adequate when its buckets are at most this much wider than the ideal width
# (range / max_points): the chart then has at least half the points asked for, from
# 10-60x fewer rows than the next finer tier would read.
ADEQUATE_WIDTH_FACTOR = 2.0


@dataclass(frozen=True)
class Series:
    """One channel's downsampled history. `source` is "raw" (samples as stored, no
    aggregation), "raw_buckets" (buckets aggregated from raw samples) or a tier name."""

    channel_id: str
    source: str
    bucket_width_us: int | None  # None for raw
    timestamp_us: I64  # raw: the sample's time; aggregated: the bucket's start
    value: F64  # raw: the value (NaN when missing); aggregated: the mean of good values
    minimum: F64 | None = None
    maximum: F64 | None = None
    count: I64 | None = None
    # Raw only: quality of each sample.
    quality: list[str] | None = None

    def __len__(self) -> int:
        return len(self.timestamp_us)


@dataclass
class _Parts:
    ts: list[I64]
    count: list[I64]
    total: list[F64]
    lo: list[F64]
    hi: list[F64]


def _floor(t: int, w: int) -> int:
    return t - t % w


def _ceil(t: int, w: int) -> int:
    return -_floor(-t, w)


def plan(start_us: int, end_us: int, max_points: int) -> tuple[Tier | None, int, int]:
    """(tier or None for raw buckets, bucket width µs, origin µs) for at most max_points."""
    span = end_us - start_us
    ideal = -(-span // max_points)
    best: tuple[Tier | None, int, int] | None = None
    for tier in TIERS:
        w = tier.width_us
        if w > ideal:
            break
        origin = _floor(start_us, w)
        width = _ceil(ideal, w)
        while -(-(end_us - origin) // width) > max_points:
            width += w
        if width <= ADEQUATE_WIDTH_FACTOR * ideal:
            best = (tier, width, origin)
    if best is not None:
        return best
    # Finer than any tier: buckets of raw samples, in whole milliseconds when that wide.
    width = _ceil(ideal, 1000) if ideal >= 1000 else max(ideal, 1)
    return None, width, start_us


def _fetch_rollup(store: Store, tier: Tier, key: int, lo: int, hi: int, parts: _Parts) -> None:
    rows = store.reader.rollup_rows(tier, key, lo, hi)
    if len(rows):
        parts.ts.append(rows.bucket_us)
        parts.count.append(rows.count)
        parts.total.append(rows.total)
        parts.lo.append(rows.minimum)
        parts.hi.append(rows.maximum)


def _fetch_raw(store: Store, key: int, lo: int, hi: int, parts: _Parts) -> None:
    ts, v = store.reader.counted_values(key, lo, hi)
    if len(ts):
        parts.ts.append(ts)
        parts.count.append(np.ones(len(v), dtype=np.int64))
        parts.total.append(v)
        parts.lo.append(v)
        parts.hi.append(v)


def _cover(store: Store, key: int, lo: int, hi: int, level: int, parts: _Parts) -> None:
    """Fill parts for [lo, hi) from tier `level` and finer (level -1: raw), in time order."""
    if lo >= hi:
        return
    if level < 0:
        _fetch_raw(store, key, lo, hi, parts)
        return
    w = TIERS[level].width_us
    a, b = _ceil(lo, w), _floor(hi, w)
    if a >= b:
        _cover(store, key, lo, hi, level - 1, parts)
        return
    _cover(store, key, lo, a, level - 1, parts)
    _fetch_rollup(store, TIERS[level], key, a, b, parts)
    _cover(store, key, b, hi, level - 1, parts)


def _raw_series(
    store: Store, meta: ChannelMeta, start_us: int, end_us: int, limit: int
) -> Series | None:
    """The raw samples when there are at most `limit` of them, else None."""
    raw = store.reader.raw_samples(meta.key, start_us, end_us, limit + 1)
    if len(raw) > limit:
        return None
    return Series(meta.channel_id, "raw", None, raw.ts_us, raw.value, quality=raw.quality)


def _raw_complete(store: Store, start_us: int) -> bool:
    """False when retention may have pruned raw samples of the range (rollups still hold it)."""
    cutoff_us = store.retention.raw_cutoff_us(time.time_ns() // 1000)
    return cutoff_us is None or start_us >= cutoff_us


def downsample(
    store: Store, meta: ChannelMeta, start_us: int, end_us: int, max_points: int
) -> Series:
    """At most max_points of one channel in [start_us, end_us): raw samples if they fit,
    otherwise exact buckets (mean, min, max, count of the good values)."""
    if max_points < 1 or start_us >= end_us:
        raise ValueError("need max_points >= 1 and start_us < end_us")
    try:
        with store.reader.one_connection():
            if _raw_complete(store, start_us):
                # Cheap whatever the range: reads at most max_points + 1 rows.
                raw = _raw_series(store, meta, start_us, end_us, max_points)
                if raw is not None:
                    return raw
            tier, width, origin = plan(start_us, end_us, max_points)
            parts = _Parts([], [], [], [], [])
            level = TIERS.index(tier) if tier is not None else -1
            _cover(store, meta.key, start_us, end_us, level, parts)
    except (ValueError, StoreError):
        raise  # the store's errors already say "history query on ... failed"
    except Exception as exc:
        raise StoreError(f"history query on {store.url} failed: {said(exc)}") from exc
    return _reduce(meta.channel_id, tier.name if tier else "raw_buckets", width, origin, parts)


def _reduce(channel_id: str, source: str, width: int, origin: int, parts: _Parts) -> Series:
    if not parts.ts:
        e_i, e_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return Series(channel_id, source, width, e_i, e_f, e_f, e_f, e_i)
    ts = np.concatenate(parts.ts)
    bucket = (ts - origin) // width
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    count = np.add.reduceat(np.concatenate(parts.count), starts)
    total = np.add.reduceat(np.concatenate(parts.total), starts)
    return Series(
        channel_id=channel_id,
        source=source,
        bucket_width_us=width,
        timestamp_us=origin + bucket[starts] * width,
        value=total / count,
        minimum=np.minimum.reduceat(np.concatenate(parts.lo), starts),
        maximum=np.maximum.reduceat(np.concatenate(parts.hi), starts),
        count=count,
    )

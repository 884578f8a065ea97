"""Continuous aggregates: per channel and time bucket, count, sum, min, max, first and last.

A batch of newly inserted samples is folded into partial aggregates in numpy, and the partials
are merged into the rollup tables by an upsert whose every column is an associative merge
(counts and sums add, min/max take the extreme, first/last the earlier/later). So the result is
the same whatever order samples arrive in: a backfill into the past lands in its old buckets
and repairs them, and two writers merging into one bucket cannot lose each other's samples.
Only samples that were really inserted are folded in (the store makes sure of that), so a
retried batch can never count twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loggerd.core.samples import VALUED_QUALITIES
from loggerd.storage.schema import TIERS, Tier

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# The qualities whose value counts, in the rollups and in history downsampled from raw samples
# alike: good ones, and flagged ones that keep their value (see samples.VALUED_QUALITIES).
COUNTED = frozenset(q.value for q in VALUED_QUALITIES)


@dataclass(frozen=True)
class Partials:
    """Aggregates of some samples, one row per (channel_key, bucket_us), sorted by both."""

    channel_key: I64
    bucket_us: I64
    count: I64
    total: F64
    minimum: F64
    maximum: F64
    first_ts_us: I64
    first_value: F64
    last_ts_us: I64
    last_value: F64

    def __len__(self) -> int:
        return len(self.channel_key)

    def rows(self) -> list[tuple[int, int, int, float, float, float, int, float, int, float]]:
        return list(
            zip(
                self.channel_key.tolist(),
                self.bucket_us.tolist(),
                self.count.tolist(),
                self.total.tolist(),
                self.minimum.tolist(),
                self.maximum.tolist(),
                self.first_ts_us.tolist(),
                self.first_value.tolist(),
                self.last_ts_us.tolist(),
                self.last_value.tolist(),
                strict=True,
            )
        )

    def array_literals(self) -> list[str]:
        """Each column as a PostgreSQL array literal: psycopg adapts a Python list element by
        element, which cost 3x the server's time for the merge (measured); a text literal is
        parsed by the server at once. repr() of a float round-trips exactly."""
        return [
            "{" + ",".join(map(repr, column.tolist())) + "}"
            for column in (
                self.channel_key,
                self.bucket_us,
                self.count,
                self.total,
                self.minimum,
                self.maximum,
                self.first_ts_us,
                self.first_value,
                self.last_ts_us,
                self.last_value,
            )
        ]


def _empty() -> Partials:
    i, f = np.empty(0, np.int64), np.empty(0, np.float64)
    return Partials(i, i, i, f, f, f, i, f, i, f)


def _group_starts(*keys: I64) -> npt.NDArray[np.intp]:
    """Indices where a run of equal keys starts (the keys are sorted)."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def from_samples(channel_key: I64, ts_us: I64, value: F64, width_us: int) -> Partials:
    """Partials of raw samples; NaN values (no usable value) are left out."""
    good = ~np.isnan(value)
    if not good.all():
        channel_key, ts_us, value = channel_key[good], ts_us[good], value[good]
    bucket = ts_us - ts_us % width_us  # floor, also before 1970
    order = np.lexsort((ts_us, bucket, channel_key))
    k, b, t, v = channel_key[order], bucket[order], ts_us[order], value[order]
    if len(k) == 0:
        return _empty()
    starts = _group_starts(k, b)
    ends = np.append(starts[1:], len(k)) - 1
    return Partials(
        channel_key=k[starts],
        bucket_us=b[starts],
        count=np.diff(np.append(starts, len(k))).astype(np.int64),
        total=np.add.reduceat(v, starts),
        minimum=np.minimum.reduceat(v, starts),
        maximum=np.maximum.reduceat(v, starts),
        first_ts_us=t[starts],
        first_value=v[starts],
        last_ts_us=t[ends],
        last_value=v[ends],
    )


def coarsen(p: Partials, width_us: int) -> Partials:
    """Partials of wider buckets from finer ones (the finer width divides `width_us`)."""
    if len(p) == 0:
        return p
    bucket = p.bucket_us - p.bucket_us % width_us
    starts = _group_starts(p.channel_key, bucket)  # still sorted: finer buckets nest
    ends = np.append(starts[1:], len(p)) - 1
    return Partials(
        channel_key=p.channel_key[starts],
        bucket_us=bucket[starts],
        count=np.add.reduceat(p.count, starts),
        total=np.add.reduceat(p.total, starts),
        minimum=np.minimum.reduceat(p.minimum, starts),
        maximum=np.maximum.reduceat(p.maximum, starts),
        first_ts_us=p.first_ts_us[starts],
        first_value=p.first_value[starts],
        last_ts_us=p.last_ts_us[ends],
        last_value=p.last_value[ends],
    )


def per_tier(
    channel_key: I64, ts_us: I64, value: F64, tiers: Sequence[Tier] = TIERS
) -> list[tuple[Tier, Partials]]:
    """Partials for every tier, the finest from the samples and each next from the last."""
    out: list[tuple[Tier, Partials]] = []
    p = from_samples(channel_key, ts_us, value, tiers[0].width_us)
    for tier in tiers:
        if out:
            p = coarsen(p, tier.width_us)
        out.append((tier, p))
    return out


_COLUMNS = (
    "channel_key, bucket_us, sample_count, value_sum, value_min, value_max, "
    "first_ts_us, first_value, last_ts_us, last_value"
)


def _merge_set(least: str, greatest: str) -> str:
    return (
        "ON CONFLICT (channel_key, bucket_us) DO UPDATE SET "
        "sample_count = r.sample_count + excluded.sample_count, "
        "value_sum = r.value_sum + excluded.value_sum, "
        f"value_min = {least}(r.value_min, excluded.value_min), "
        f"value_max = {greatest}(r.value_max, excluded.value_max), "
        f"first_ts_us = {least}(r.first_ts_us, excluded.first_ts_us), "
        "first_value = CASE WHEN excluded.first_ts_us < r.first_ts_us "
        "THEN excluded.first_value ELSE r.first_value END, "
        f"last_ts_us = {greatest}(r.last_ts_us, excluded.last_ts_us), "
        "last_value = CASE WHEN excluded.last_ts_us > r.last_ts_us "
        "THEN excluded.last_value ELSE r.last_value END"
    )


def sqlite_merge_sql(tier: Tier) -> str:
    """An executemany upsert (qmark parameters) merging one partial per row."""
    return (
        f"INSERT INTO {tier.table_name} AS r ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        + _merge_set("min", "max")
    )


def postgres_merge_sql(tier: Tier) -> str:
    """One upsert statement merging every partial, passed as ten arrays (one round trip)."""
    return (
        f"INSERT INTO {tier.table_name} AS r ({_COLUMNS}) "
        "SELECT * FROM unnest(%s::int4[], %s::int8[], %s::int8[], %s::float8[], %s::float8[], "
        "%s::float8[], %s::int8[], %s::float8[], %s::int8[], %s::float8[]) "
        + _merge_set("LEAST", "GREATEST")
    )


class Merger:
    """How one engine merges partials into the rollup tables: for each tier that has any, its
    upsert and the parameters, ready for the DB-API: a list of rows for SQLite (executemany),
    ten array literals for PostgreSQL (one statement, one round trip)."""

    def __init__(self, sqlite: bool) -> None:
        self._sqlite = sqlite
        merge_sql = sqlite_merge_sql if sqlite else postgres_merge_sql
        self._sql = {t.name: merge_sql(t) for t in TIERS}

    def statements(self, per_tier: Iterable[tuple[Tier, Partials]]) -> list[tuple[str, Any]]:
        return [
            (self._sql[tier.name], p.rows() if self._sqlite else tuple(p.array_literals()))
            for tier, p in per_tier
            if len(p)
        ]

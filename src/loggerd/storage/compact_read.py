"""A channel's samples read from SQLite as a few long texts: each dense column of a read is one
group_concat of integers, made in SQLite's C, instead of a Python object per value from the
sqlite3 module (which in Python 3.11 also releases and retakes the GIL for every value).

A read is planned from its first row. The columns that usually stay as they are there (quality,
time source, method, calibration, clock offset, uncertainty; raw_value where it equals value)
are compared with it in SQL, and only the rows that differ come back, each whole, as a JSON
record. Time, value and sequence (and raw_value where calibrated) come back as integers: the
time and sequence less the first row's, a value times a power of two that makes it a whole
number. That is exact, as multiplying by a power of two is, where SQLite's text of a real (15
digits) is not. A value too small for the scale comes back in a record, as two such integers.

What the plan cannot give exactly (a value far above the first row's that is still too large
after one re-plan from the read's largest value, one so small its bits fall below even the
record's scale, rows not in time order) makes the read None: the caller reads rows instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

__all__ = ["read_compact"]

# The columns a read gives, in this order (the reader's row type); the names of the SQL below.
COLUMNS = (
    "ts_us",
    "value",
    "raw_value",
    "quality",
    "time_source",
    "sequence",
    "calibration_version",
    "uncertainty",
    "method",
    "clock_offset_us",
)
_RANGE = "FROM samples WHERE channel_key = :key AND ts_us > :after"
_FIRST = f"SELECT {', '.join(COLUMNS)} {_RANGE} AND ts_us < :end ORDER BY ts_us LIMIT 1"
_BOUND = f"SELECT ts_us {_RANGE} AND ts_us < :end ORDER BY ts_us LIMIT 1 OFFSET :skip"
_EXTREMES = f"SELECT max(value), min(value), max(raw_value), min(raw_value) {_RANGE} AND {{upto}}"

# A dense value's exponents (2^e <= |v| < 2^(e+1)) kept exact by its scale: the first row's and
# HEADROOM above it, 2^9 below that. Below, a value comes back in a record.
HEADROOM = 5
# A column whose values come back in records only is scaled for values far from its first
# (down to 2^-41 of it), or, without a first, for values from 2^-31 to 2^41.
_WIDE_HEADROOM = 30
_DEFAULT_TOP = {HEADROOM: 10, _WIDE_HEADROOM: 40}  # where the first value is missing or zero
_DENSE_LIMIT = 2**62  # a dense integer this large is a value above its scale's range


@dataclass(frozen=True)
class _Scale:
    """Values times 2^a are whole where |v| >= 2^(top - 9) (and under 2^(top + 1), as integers
    under 2^62); a value below that is hi·2^-a + lo·2^-b, exact down to 2^(top - 71)."""

    top: int

    @property
    def a(self) -> int:
        return 61 - self.top

    @property
    def b(self) -> int:
        return self.a + 62

    def params(self, name: str) -> dict[str, float]:
        return {
            f"{name}_s": math.ldexp(1.0, self.a),
            f"{name}_is": math.ldexp(1.0, -self.a),
            f"{name}_sb": math.ldexp(1.0, self.b),
            f"{name}_l": math.ldexp(1.0, self.top - 9),  # the smallest whole after scaling
            f"{name}_h": math.ldexp(1.0, self.top + 1),  # too large for the scale
            f"{name}_t": math.ldexp(1.0, self.top - 71),  # too small even for hi and lo
        }

    @staticmethod
    def of(value: float | None, headroom: int) -> _Scale | None:
        """A scale for values around `value` (None: the powers of two it needs are not normal
        doubles, or the value is not finite)."""
        if value is None or value == 0:
            top = _DEFAULT_TOP[headroom]
        elif not math.isfinite(value):
            return None
        else:
            top = math.frexp(abs(value))[1] - 1 + headroom
        return _Scale(top) if -900 <= top <= 1000 else None

    def decode(self, hi: int | None, lo: int | None) -> float | None:
        if hi is None or lo is None:
            return None
        # Each part is exact (at most 53 significant bits times a power of two) and so is
        # their sum, which is the stored value.
        return math.ldexp(hi, -self.a) + math.ldexp(lo, -self.b)


def _hi(col: str) -> str:
    return f"CAST({col} * :{col}_s AS INTEGER)"


def _lo(col: str) -> str:
    return f"CAST(({col} - {_hi(col)} * :{col}_is) * :{col}_sb AS INTEGER)"


def _small(col: str) -> str:
    return f"({col} < :{col}_l AND {col} > -:{col}_l AND {col} != 0)"


def _bad(col: str) -> str:
    """A value the record's two integers cannot hold exactly."""
    return (
        f"({col} != 0 AND ({col} >= :{col}_h OR {col} <= -:{col}_h "
        f"OR ({col} < :{col}_t AND {col} > -:{col}_t)))"
    )


_FLOATS = ("value", "raw_value", "uncertainty")
# Compared with the first row's in every plan.
_CONSTANT = ("quality", "time_source", "method", "calibration_version", "clock_offset_us")
# A record: the row's offset in time and every column the dense texts do not give exactly.
_RECORD = (
    "json_array(ts_us - :ts0, quality, time_source, method, calibration_version, "
    "clock_offset_us, sequence, "
    + ", ".join(f"{_hi(c)}, {_lo(c)}" for c in _FLOATS)
    + ", "
    + " OR ".join(_bad(c) for c in _FLOATS)
    + ")"
)


@dataclass(frozen=True)
class _Plan:
    first: tuple[Any, ...]
    value_dense: bool
    raw_mode: str  # "same" (as value), "dense" or "constant"
    seq_dense: bool
    scales: dict[str, _Scale]

    def sql(self, to_end: bool) -> str:
        dense = ["group_concat(ts_us - :ts0)"]
        differs = [f"{c} IS NOT :{c}" for c in (*_CONSTANT, "uncertainty")]
        for col, is_dense in (("value", self.value_dense), ("raw_value", self.raw_mode == "dense")):
            if is_dense:
                dense.append(f"group_concat(ifnull({_hi(col)}, 0))")
                differs.append(f"{col} IS NULL OR {_small(col)}")
            elif col == "raw_value" and self.raw_mode == "same":
                differs.append("raw_value IS NOT value")
            else:
                differs.append(f"{col} IS NOT :{col}")
        if self.seq_dense:
            dense.append("group_concat(ifnull(sequence - :sequence, 0))")
            differs.append("sequence IS NULL")
        else:
            differs.append("sequence IS NOT :sequence")
        upto = "ts_us < :end" if to_end else "ts_us <= :end"
        return (
            f"SELECT count(*), {', '.join(dense)}, "
            f"group_concat(CASE WHEN {' OR '.join(differs)} THEN {_RECORD} END) "
            f"{_RANGE} AND {upto}"
        )

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(COLUMNS, self.first, strict=True))
        out["ts0"] = self.first[0]
        for name, scale in self.scales.items():
            out.update(scale.params(name))
        return out

    @staticmethod
    def of(first: tuple[Any, ...], tops: dict[str, int]) -> _Plan | None:
        row = dict(zip(COLUMNS, first, strict=True))
        value, raw = row["value"], row["raw_value"]
        if raw == value or (raw is None and value is None):
            raw_mode = "same"
        else:
            raw_mode = "constant" if raw is None else "dense"
        dense = {"value": value is not None, "raw_value": raw_mode == "dense", "uncertainty": False}
        scales: dict[str, _Scale] = {}
        for col in _FLOATS:
            top = tops.get(col)
            headroom = HEADROOM if dense[col] else _WIDE_HEADROOM
            scale = _Scale(top) if top is not None else _Scale.of(row[col], headroom)
            if scale is None:
                return None
            scales[col] = scale
        return _Plan(first, dense["value"], raw_mode, row["sequence"] is not None, scales)


I64 = npt.NDArray[np.int64]


def _integers(text: str | None, n: int) -> I64 | None:
    """The integers of a group_concat (None: not n of them)."""
    if n == 0:
        return np.empty(0, np.int64)
    if text is None:
        return None
    out = np.fromstring(text, np.int64, sep=",")
    return out if len(out) == n else None


class _Columns:
    """The columns of one read, filled from the first row and then corrected row by row."""

    def __init__(self, plan: _Plan, ts: I64) -> None:
        n = len(ts)
        self.ts = ts
        first = dict(zip(COLUMNS, plan.first, strict=True))
        self.floats = {c: np.full(n, first[c] or 0.0, np.float64) for c in _FLOATS}
        self.float_valid = {c: np.full(n, first[c] is not None) for c in _FLOATS}
        ints = ("sequence", "calibration_version", "clock_offset_us")
        self.ints = {c: np.full(n, first[c] or 0, np.int64) for c in ints}
        self.int_valid = {c: np.full(n, first[c] is not None) for c in ints}
        texts = ("quality", "time_source", "method")
        self.words: dict[str, list[str | None]] = {c: [first[c]] for c in texts}
        self.word_index = {c: np.zeros(n, np.int32) for c in texts}

    def set_record(self, at: int, record: list[Any], scales: dict[str, _Scale]) -> None:
        for col, value in zip(("quality", "time_source", "method"), record[1:4], strict=True):
            words = self.words[col]
            if value not in words:
                words.append(value)
            self.word_index[col][at] = words.index(value)
        for col, value in zip(
            ("calibration_version", "clock_offset_us", "sequence"), record[4:7], strict=True
        ):
            self.ints[col][at] = value or 0
            self.int_valid[col][at] = value is not None
        for i, col in enumerate(_FLOATS):
            value = scales[col].decode(record[7 + 2 * i], record[8 + 2 * i])
            self.floats[col][at] = value or 0.0
            self.float_valid[col][at] = value is not None

    def batch(self, schema: pa.Schema) -> pa.RecordBatch:
        n = len(self.ts)
        arrays: dict[str, Any] = {"ts_us": pa.array(self.ts, pa.int64())}
        for col in _FLOATS:
            arrays[col] = _masked(self.floats[col], self.float_valid[col], pa.float64())
        for col, values in self.ints.items():
            arrays[col] = _masked(values, self.int_valid[col], schema.field(col).type)
        for col, words in self.words.items():
            if len(words) > 1:
                arrays[col] = pa.array(words, pa.string()).take(self.word_index[col])
            elif words[0] is None:
                arrays[col] = pa.nulls(n, pa.string())
            else:
                arrays[col] = pa.repeat(pa.scalar(words[0], pa.string()), n)
        return pa.RecordBatch.from_arrays([arrays[c] for c in COLUMNS], schema=schema)


def _masked(values: npt.NDArray[Any], valid: npt.NDArray[np.bool_], kind: pa.DataType) -> Any:
    """An Arrow array of `values`, null where not `valid` (each case its cheapest way)."""
    if valid.all():
        return pa.array(values, kind)
    if not valid.any():
        return pa.nulls(len(values), kind)
    return pa.array(values, kind, mask=~valid)


def _decode(plan: _Plan, row: tuple[Any, ...], schema: pa.Schema) -> pa.RecordBatch | str:
    """The read's batch, or why it cannot be given exactly: "large" (a dense value above its
    scale: worth one re-plan) or "inexact"."""
    n = int(row[0])
    texts = iter(row[1:-1])
    ts = _integers(next(texts), n)
    if ts is None:
        return "inexact"
    ts += plan.first[0]
    if n > 1 and not bool(np.all(ts[1:] > ts[:-1])):  # group_concat kept the scan's order
        return "inexact"
    columns = _Columns(plan, ts)
    for col, dense in (("value", plan.value_dense), ("raw_value", plan.raw_mode == "dense")):
        if not dense:
            continue
        hi = _integers(next(texts), n)
        if hi is None:
            return "inexact"
        if bool(np.any((hi >= _DENSE_LIMIT) | (hi <= -_DENSE_LIMIT))):
            return "large"
        columns.floats[col] = np.ldexp(hi.astype(np.float64), -plan.scales[col].a)
        columns.float_valid[col][:] = True  # a missing value is a record, below
    if plan.seq_dense:
        seq = _integers(next(texts), n)
        if seq is None:
            return "inexact"
        columns.ints["sequence"] = seq + plan.first[5]
    if plan.raw_mode == "same":
        columns.floats["raw_value"] = columns.floats["value"].copy()
        columns.float_valid["raw_value"] = columns.float_valid["value"].copy()
    if row[-1] is not None:
        records = orjson.loads("[" + row[-1] + "]")
        if any(r[-1] for r in records):
            return "inexact"
        times = np.array([r[0] for r in records], np.int64) + plan.first[0]
        at = np.searchsorted(ts, times)
        if not bool(np.all(ts[np.minimum(at, n - 1)] == times)):
            return "inexact"
        for i, record in zip(at.tolist(), records, strict=True):
            columns.set_record(i, record, plan.scales)
    return columns.batch(schema)


def read_compact(
    cur: Any, key: int, after_us: int, end_us: int, rows: int, schema: pa.Schema
) -> pa.RecordBatch | None:
    """A channel's first `rows` samples in (after_us, end_us), in time order, as a batch of
    `schema` (COLUMNS' columns, typed as the reader's rows), or None where this read cannot
    give them exactly. `cur`: a sqlite3 cursor."""
    where = {"key": key, "after": after_us, "end": end_us}
    cur.execute(_FIRST, where)
    first = cur.fetchone()
    if first is None:
        return pa.RecordBatch.from_pylist([], schema=schema)
    cur.execute(_BOUND, {**where, "skip": rows - 1})
    bound = cur.fetchone()
    to_end = bound is None
    upto = {**where, "end": end_us if to_end else bound[0]}
    tops: dict[str, int] = {}
    for _ in range(2):
        plan = _Plan.of(tuple(first), tops)
        if plan is None:
            return None
        cur.execute(plan.sql(to_end), {**plan.params(), **upto})
        got = _decode(plan, cur.fetchone(), schema)
        if isinstance(got, pa.RecordBatch):
            return got
        if got != "large" or tops:
            return None
        # Re-planned once, from the largest magnitudes of the read.
        cur.execute(_EXTREMES.format(upto="ts_us < :end" if to_end else "ts_us <= :end"), upto)
        extremes = cur.fetchone()
        for col, pair in (("value", extremes[:2]), ("raw_value", extremes[2:])):
            largest = max((abs(v) for v in pair if v is not None), default=None)
            if largest is None or largest == 0:
                continue  # no dense value to scale
            scale = _Scale.of(largest, 0)
            if scale is None:
                return None
            tops[col] = scale.top
    return None

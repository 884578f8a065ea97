"""Samples as columns: what the spool keeps, and what the store's writer turns into rows.

A batch of Samples is taken apart once, a column per field (the attribute fetched for every
sample at once), and becomes bytes in a compact binary form: each column a little-endian
numpy array, texts as indices into a table of the distinct ones, a JSON header with the tables.
Read back, the columns go straight into the store's rows, with no Sample made per sample.
Values are kept exactly: NaN, ±inf and None stay what they were; integers are 64-bit.

The format is versioned by its first bytes (`LGSB` and a version), documented here field by
field, so a spool written by one loggerd can be read by the next (and by hand, with numpy).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import compress
from operator import attrgetter
from typing import Any

import numpy as np
import orjson

from loggerd.core.samples import Quality, Sample, TimeSource

__all__ = ["MAGIC", "SampleBatch"]

MAGIC = b"LGSB\x01"  # "loggerd sample batch", format 1
_HEADER_LENGTH = struct.Struct("<I")
# Each column's kind in the format, in the order of the arrays after the header:
#   text:  uint32 index into header["text"][name] (null there stands for None)
#   int:   int64;  float: float64 (IEEE 754, so NaN and ±inf are kept)
#   int?/float?: header["present"][name] is "all" (the array), "none" (no array: all None) or
#          "some" (a uint8 array, 1 where present, then the array with 0 where absent)
_KINDS = {
    "chamber_id": "text",
    "channel_id": "text",
    "timestamp_us": "int",
    "value": "float",
    "raw_value": "float",
    "quality": "text",
    "time_source": "text",
    "sequence": "int?",
    "calibration_version": "int?",
    "uncertainty": "float?",
    "method": "text",
    "clock_offset_us": "int?",
}
_DTYPES = {"text": "<u4", "int": "<i8", "float": "<f8", "int?": "<i8", "float?": "<f8"}


@dataclass
class SampleBatch:
    """Samples as columns, one list per field of Sample, in its order."""

    chamber_id: list[str]
    channel_id: list[str]
    timestamp_us: list[int]
    value: list[float]
    raw_value: list[float]
    quality: list[str]
    time_source: list[str]
    sequence: list[int | None]
    calibration_version: list[int | None]
    uncertainty: list[float | None]
    method: list[str | None]
    clock_offset_us: list[int | None]

    def __len__(self) -> int:
        return len(self.timestamp_us)

    @staticmethod
    def from_samples(samples: Sequence[Sample]) -> SampleBatch:
        batch = SampleBatch(*(list(map(attrgetter(name), samples)) for name in _KINDS))
        # Plain strings, not the enums: SQLite binds a str subclass through its adapter lookup
        # (three attribute lookups a value), which cost a fifth of an insert.
        batch.quality = _plain(batch.quality)
        batch.time_source = _plain(batch.time_source)
        return batch

    @staticmethod
    def concat(batches: Sequence[SampleBatch]) -> SampleBatch:
        if not batches:
            return SampleBatch(*([] for _ in _KINDS))
        if len(batches) == 1:
            return batches[0]
        columns: list[list[Any]] = []
        for name in _KINDS:
            column: list[Any] = []
            for b in batches:
                column += getattr(b, name)  # a copy in C, not an element at a time
            columns.append(column)
        return SampleBatch(*columns)

    def samples(self) -> list[Sample]:
        """As Samples (for tools that read a spool; the writer never needs them)."""
        quality = {q: Quality(q) for q in set(self.quality)}
        source = {s: TimeSource(s) for s in set(self.time_source)}
        return [
            Sample(c, ch, ts, v, raw, quality[q], source[src], seq, cal, u, m, off)
            for c, ch, ts, v, raw, q, src, seq, cal, u, m, off in zip(
                *(getattr(self, name) for name in _KINDS), strict=True
            )
        ]

    def rows(
        self, key: Callable[[tuple[str, str]], int], cutoff_us: int | None
    ) -> list[tuple[Any, ...]]:
        """The store's rows (sample_writer.Row), in batch order: the channel's key for the
        chamber and channel, NaN as None (missing is NULL), samples older than `cutoff_us`
        left out."""
        return list(zip(*self.columns(key, cutoff_us), strict=True))

    def columns(
        self,
        key: Callable[[tuple[str, str]], int],
        cutoff_us: int | None,
        nan_as_none: bool = True,
    ) -> list[Sequence[Any]]:
        """The store's columns, in the order of a row (see rows()). Without `nan_as_none` the
        value columns keep NaN, for a database that stores a NaN bound as NULL itself (SQLite
        does), which spares a pass over them."""
        nan: Callable[[list[Any]], Sequence[Any]] = _nan_as_none if nan_as_none else _same
        columns: list[Sequence[Any]] = [
            list(map(key, zip(self.chamber_id, self.channel_id, strict=True))),
            self.timestamp_us,
            nan(self.value),
            nan(self.raw_value),
            self.quality,
            self.time_source,
            self.sequence,
            self.calibration_version,
            nan(self.uncertainty),
            self.method,
            self.clock_offset_us,
        ]
        if cutoff_us is not None and self.timestamp_us and min(self.timestamp_us) < cutoff_us:
            kept = [t >= cutoff_us for t in self.timestamp_us]
            columns = [list(compress(c, kept)) for c in columns]
        return columns

    # --- bytes --------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        n = len(self)
        header: dict[str, Any] = {"n": n, "text": {}, "present": {}}
        arrays: list[bytes] = []
        for name, kind in _KINDS.items():
            column: list[Any] = getattr(self, name)
            dtype = _DTYPES[kind]
            if kind == "text":
                table = list(dict.fromkeys(column))
                index = {v: i for i, v in enumerate(table)}
                header["text"][name] = [None if v is None else str(v) for v in table]
                arrays.append(np.fromiter(map(index.__getitem__, column), dtype, n).tobytes())
            elif kind in ("int", "float"):
                arrays.append(np.array(column, dtype).tobytes())
            else:
                absent = column.count(None)
                if absent == n:
                    header["present"][name] = "none"
                elif absent == 0:
                    header["present"][name] = "all"
                    arrays.append(np.array(column, dtype).tobytes())
                else:
                    header["present"][name] = "some"
                    arrays.append(np.fromiter((x is not None for x in column), "u1", n).tobytes())
                    arrays.append(
                        np.fromiter((0 if x is None else x for x in column), dtype, n).tobytes()
                    )
        head = orjson.dumps(header)
        return b"".join([MAGIC, _HEADER_LENGTH.pack(len(head)), head, *arrays])

    @staticmethod
    def from_bytes(payload: bytes) -> SampleBatch:
        if not payload.startswith(MAGIC):
            raise ValueError("not a sample batch of format 1")
        at = len(MAGIC)
        (length,) = _HEADER_LENGTH.unpack_from(payload, at)
        at += _HEADER_LENGTH.size
        header = orjson.loads(payload[at : at + length])
        at += length
        n = header["n"]

        def take(dtype: str) -> np.ndarray[Any, Any]:
            nonlocal at
            array = np.frombuffer(payload, dtype, n, at)
            at += array.nbytes
            return array

        columns: list[list[Any]] = []
        for name, kind in _KINDS.items():
            if kind == "text":
                table = np.array(header["text"][name] or [None], dtype=object)
                columns.append(table[take("<u4")].tolist())
            elif kind in ("int", "float"):
                columns.append(take(_DTYPES[kind]).tolist())
            else:
                present = header["present"][name]
                if present == "none":
                    columns.append([None] * n)
                elif present == "all":
                    columns.append(take(_DTYPES[kind]).tolist())
                else:
                    mask = take("u1").astype(bool)
                    values = take(_DTYPES[kind]).astype(object)
                    values[~mask] = None
                    columns.append(values.tolist())
        if at != len(payload):
            raise ValueError(f"a sample batch of {n} samples has {len(payload) - at} bytes over")
        return SampleBatch(*columns)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples())


def _same(column: list[Any]) -> list[Any]:
    return column


def _plain(column: list[str]) -> list[str]:
    """The column with each text a plain str (an enum's value)."""
    table = {v: str.__str__(v) for v in set(column)}
    return list(map(table.__getitem__, column))


def _nan_as_none(column: list[float] | list[float | None]) -> Sequence[float | None]:
    """The column with None for NaN; itself when it holds no NaN (the common case)."""
    if not column:
        return column
    values = np.array(column, dtype=np.float64)  # None -> NaN
    nan = np.isnan(values)
    if not nan.any():
        return column
    out = np.array(column, dtype=object)
    out[nan] = None
    return out.tolist()  # type: ignore[no-any-return]


assert [f.name for f in fields(Sample)] == list(_KINDS), "Sample's fields changed: see _KINDS"

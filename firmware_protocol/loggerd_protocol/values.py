"""Typed values <-> 16-bit registers, as the register map defines them: pure, no I/O."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .definition import Definition, Field

Value = int | float | str

EMPTY_SEQUENCE = 0xFFFFFFFF


class ValueEncodingError(ValueError):
    """A value that cannot be put into its registers (wrong type, out of range)."""


def _pack(field: Field, value: Value) -> bytes:
    kind = field.type
    try:
        if kind == "float32":
            f = float(value)
            if math.isnan(f):
                return struct.pack(">I", 0x7FC00000)
            return struct.pack(">f", f)
        if kind == "ascii":
            text = str(value).encode("ascii")
            size = 2 * field.words
            if len(text) > size:
                raise ValueEncodingError(
                    f"{field.name}: {value!r} is longer than {size} characters"
                )
            return text.ljust(size, b"\0")
        scaled = float(value) / field.scale
        raw = round(scaled)
        if field.scale == 1.0 and raw != scaled:
            raise ValueEncodingError(f"{field.name}: {value!r} is not a whole number")
        fmt = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i"}[kind]
        return struct.pack(fmt, raw)
    except ValueEncodingError:
        raise
    except (struct.error, OverflowError, ValueError, UnicodeEncodeError) as exc:
        # float32 overflow, inf/NaN into an integer, non-ASCII text: all are bad values.
        raise ValueEncodingError(f"{field.name}: {value!r} does not fit {kind}: {exc}") from None


def encode_field(field: Field, value: Value) -> tuple[int, ...]:
    data = _pack(field, value)
    return struct.unpack(f">{len(data) // 2}H", data)


def decode_field(field: Field, words: Sequence[int]) -> Value:
    if len(words) != field.words:
        raise ValueError(f"{field.name}: {len(words)} registers given, {field.words} expected")
    data = struct.pack(f">{len(words)}H", *words)
    kind = field.type
    if kind == "float32":
        value: float = struct.unpack(">f", data)[0]
        return value
    if kind == "ascii":
        return data.rstrip(b"\0").decode("ascii", errors="replace")
    fmt = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i"}[kind]
    raw: int = struct.unpack(fmt, data)[0]
    return raw * field.scale if field.scale != 1.0 else raw


def decode_block(fields: Sequence[Field], start: int, words: Sequence[int]) -> dict[str, Value]:
    """Decode every field lying wholly inside the block of registers read from `start`."""
    end = start + len(words)
    return {
        f.name: decode_field(f, words[f.address - start : f.end - start])
        for f in fields
        if f.address >= start and f.end <= end and f.type != "record"
    }


@dataclass(frozen=True)
class Record:
    """One record of the logger's memory, decoded. Missing values are NaN."""

    sequence: int
    timestamp: int  # logger clock, UTC epoch seconds
    status: int
    values: Mapping[str, float]  # point name -> value in the point's unit


def _record_value(defn: Definition, field: Field, words: Sequence[int]) -> float:
    # Compare the raw register with the sentinel, not the scaled float.
    if struct.unpack(">h", struct.pack(">H", words[0]))[0] == defn.record_missing_int16:
        return math.nan
    return float(decode_field(field, words))


def decode_record(defn: Definition, words: Sequence[int]) -> Record | None:
    """Decode one record; None for an empty slot past the newest record."""
    if len(words) != defn.record_registers:
        raise ValueError(f"a record is {defn.record_registers} registers, {len(words)} given")
    fields = {f.name: f for f in defn.record_fields}

    def slot(name: str) -> Sequence[int]:
        f = fields[name]
        return words[f.address : f.end]

    sequence = int(decode_field(fields["sequence"], slot("sequence")))
    if sequence == EMPTY_SEQUENCE:
        return None
    values = {p: _record_value(defn, fields[p], slot(p)) for p in defn.point_names() if p in fields}
    return Record(
        sequence=sequence,
        timestamp=int(decode_field(fields["timestamp"], slot("timestamp"))),
        status=int(decode_field(fields["status"], slot("status"))),
        values=values,
    )


def encode_record(defn: Definition, record: Record | None) -> tuple[int, ...]:
    """The registers of one record; an empty slot when record is None."""
    words = [0] * defn.record_registers
    for f in defn.record_fields:
        if record is None:
            value: Value = EMPTY_SEQUENCE if f.name == "sequence" else 0
        elif f.name == "sequence":
            value = record.sequence
        elif f.name == "timestamp":
            value = record.timestamp
        elif f.name == "status":
            value = record.status
        else:
            v = record.values.get(f.name, math.nan)
            lo, hi = -32767 * f.scale, 32767 * f.scale
            value = defn.record_missing_int16 * f.scale if math.isnan(v) else min(max(v, lo), hi)
        words[f.address : f.end] = encode_field(f, value)
    return tuple(words)

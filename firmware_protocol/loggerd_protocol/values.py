"""Typed values <-> 16-bit registers, as the register map defines them: pure, no I/O.

Numbers go through the one register codec (registers.py) in the logger's word order; what is
the logger's own stays here: its ASCII text, the scale of a field and the layout of a record.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .definition import Definition, Field
from .registers import (
    _STRUCT,
    QUIET_NAN_FLOAT32,
    Order,
    decode_registers,
    encode_registers,
    float32_decimal,
    scaled,
)

Value = int | float | str

EMPTY_SEQUENCE = 0xFFFFFFFF
WORD_ORDER: Order = "ABCD"  # PROTOCOL.md §4.1: high word first, bytes big-endian
# PROTOCOL.md §4.2: the logger sends exactly this NaN, whatever NaN it is handed.
_NAN_WORDS = encode_registers(QUIET_NAN_FLOAT32, "uint32", WORD_ORDER)


class ValueEncodingError(ValueError):
    """A value that cannot be put into its registers (wrong type, out of range)."""


def _encode_text(field: Field, value: Value) -> tuple[int, ...]:
    text = str(value).encode("ascii")
    size = 2 * field.words
    if len(text) > size:
        raise ValueEncodingError(f"{field.name}: {value!r} is longer than {size} characters")
    return struct.unpack(f">{field.words}H", text.ljust(size, b"\0"))


def _encode_number(field: Field, value: Value) -> tuple[int, ...]:
    value_type = field.number_type
    raw: float = float(value)
    if value_type == "float32" and math.isnan(raw):
        return _NAN_WORDS
    if value_type != "float32":
        scaled = raw / field.scale
        raw = round(scaled)
        if field.scale == 1.0 and raw != scaled:
            raise ValueEncodingError(f"{field.name}: {value!r} is not a whole number")
    try:
        return encode_registers(raw, value_type, WORD_ORDER)
    except ValueError as exc:  # the codec's message names the raw value and the type
        raise ValueEncodingError(f"{field.name}: {exc}") from None


def encode_field(field: Field, value: Value) -> tuple[int, ...]:
    try:
        if field.type == "ascii":
            return _encode_text(field, value)
        return _encode_number(field, value)
    except ValueEncodingError:
        raise
    except (OverflowError, ValueError, UnicodeEncodeError) as exc:
        # float32 overflow, inf/NaN into an integer, non-ASCII text: all are bad values.
        raise ValueEncodingError(
            f"{field.name}: {value!r} does not fit {field.type}: {exc}"
        ) from None


def decode_field(field: Field, words: Sequence[int]) -> Value:
    if len(words) != field.words:
        raise ValueError(f"{field.name}: {len(words)} registers given, {field.words} expected")
    if field.type == "ascii":
        data = struct.pack(f">{len(words)}H", *words)
        return data.rstrip(b"\0").decode("ascii", errors="replace")
    value = decode_registers(words, field.number_type, WORD_ORDER)
    if isinstance(value, float):
        return value
    return scaled(value, field.scale) if field.scale != 1.0 else value


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
    if decode_registers(words[:1], "int16", WORD_ORDER) == defn.record_missing_int16:
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


class BlockDecoder:
    """decode_block for one block read again and again (a live read at every poll): the
    fields inside it found once, and all of them unpacked by one precompiled struct, not a
    pack and an unpack per field. Gives exactly what decode_block gives."""

    def __init__(self, fields: Sequence[Field], start: int, count: int) -> None:
        end = start + count
        inside = sorted(
            (f for f in fields if f.address >= start and f.end <= end and f.type != "record"),
            key=lambda f: f.address,
        )
        if WORD_ORDER != "ABCD" or any(f.type == "ascii" for f in inside):
            raise ValueError("a block decoder takes big-endian numeric fields only")
        fmt, at = ">", start
        for f in inside:
            if f.address < at:
                raise ValueError(f"{f.name} overlaps the field before it")
            fmt += "xx" * (f.address - at) + _STRUCT[f.number_type]
            at = f.end
        fmt += "xx" * (end - at)
        self.count = count
        self._struct = struct.Struct(fmt)
        self._words = struct.Struct(f">{count}H")
        self._fields = [(f.name, f.number_type == "float32", f.scale) for f in inside]

    def decode(self, words: Sequence[int]) -> dict[str, Value]:
        if len(words) != self.count:
            raise ValueError(f"the block is {self.count} registers, {len(words)} given")
        try:
            raw = self._struct.unpack(self._words.pack(*words))
        except struct.error:
            raise ValueError(f"registers must be 0..0xFFFF, got {list(words)}") from None
        out: dict[str, Value] = {}
        for (name, is_float32, scale), value in zip(self._fields, raw, strict=True):
            if is_float32:
                out[name] = float32_decimal(value)
            else:
                out[name] = scaled(value, scale) if scale != 1.0 else value
        return out

"""Typed values <-> 16-bit Modbus registers in any of the four word orders: the one register
codec of loggerd_protocol (device profiles and the reference logger's map both use it). Pure.

Register order. Name the bytes of a value A B C D … from the most significant. A register is
two bytes sent most significant first. The four orders say how a device lays a value out:

* ABCD: most significant register first, bytes in order. (Modbus's own big-endian convention;
  pymodbus word_order="big"; mbpoll with -B.)
* CDAB: least significant register first, bytes in order: "word-swapped", "Modicon" or
  "little-endian word order" (Vaisala). pymodbus word_order="little"; mbpoll's default float.
* BADC: most significant register first, the two bytes of each register swapped.
* DCBA: least significant register first, bytes swapped: the value's little-endian bytes.

For a 64-bit value (four registers, bytes A…H) the same rules hold, as in pymodbus: CDAB
reverses all four registers (GH EF CD AB), it does not swap them pairwise (CD AB GH EF); BADC
swaps the bytes in each register (BA DC FE HG); DCBA does both (HG FE DC BA). A 16-bit value
has one register: ABCD and CDAB leave it alone, BADC and DCBA swap its two bytes.

Decimals. A device that sends 25.05986 in a float32 sends the binary fraction nearest to it,
25.0598602294921875; read as a Python float that prints as 25.059860229492188, digits the
device never meant. A float32 is decoded as the shortest decimal that is the same float32
(25.05986), and a value scaled by 0.01 as the decimal it counts (2137 × 0.01 as 21.37, not
21.370000000000001): the same registers, without the noise, for everything downstream.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

Function = Literal["input", "holding"]  # read with function 04 or 03
ValueType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64"]
Order = Literal["ABCD", "CDAB", "BADC", "DCBA"]

ORDERS: tuple[Order, ...] = get_args(Order)
VALUE_TYPES: tuple[ValueType, ...] = get_args(ValueType)
WORDS: dict[ValueType, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
}
FLOAT_TYPES: frozenset[str] = frozenset({"float32", "float64"})
QUIET_NAN_FLOAT32 = 0x7FC00000

_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


def swap_bytes(word: int) -> int:
    """The two bytes of one register exchanged."""
    return ((word & 0xFF) << 8) | (word >> 8)


def reorder(words: Sequence[int], order: Order) -> tuple[int, ...]:
    """Registers in `order` <-> registers most significant first with bytes in order (ABCD).

    The mapping is its own inverse, so it serves both directions.
    """
    out = list(words)
    if order in ("CDAB", "DCBA"):
        out.reverse()
    if order in ("BADC", "DCBA"):
        out = [swap_bytes(w) for w in out]
    return tuple(out)


def decode_registers(words: Sequence[int], value_type: ValueType, order: Order) -> int | float:
    """The value held in `words`, as the device sent them in `order`."""
    n = WORDS[value_type]
    if len(words) != n:
        raise ValueError(f"{value_type} takes {n} registers, {len(words)} given")
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise ValueError(f"registers must be 0..0xFFFF, got {list(words)}")
    data = struct.pack(f">{n}H", *reorder(words, order))
    value: int | float = struct.unpack(">" + _STRUCT[value_type], data)[0]
    return float32_decimal(value) if value_type == "float32" else value


def float32_decimal(value: float) -> float:
    """A float32's value as the shortest decimal that rounds to the same float32 (numpy
    prints a float32 so: Steele & White / Dragon4, unique mode); NaN, infinities and zeros
    (either sign) as they are. Encoded again it gives the same registers.

    Remembered for the last 65,536 values: numpy's printing costs ~2 µs, a live read decodes
    18 of them, and a chamber's readings come back to the same float32s (a sensor's
    resolution is a hundredth of a degree), so a thousand loggers polled at 1 Hz hit the
    memory nearly always. Zeros and NaN stay out of it (0.0 and -0.0 are one key; NaN is
    no key)."""
    if value != value or value == 0.0 or value in _INFINITIES:
        return value
    return _shortest_float32_decimal(value)


_INFINITIES = (math.inf, -math.inf)


@functools.lru_cache(maxsize=1 << 16)
def _shortest_float32_decimal(value: float) -> float:
    return float(str(np.float32(value)))


def scaled(raw: int | float, scale: float) -> float:
    """raw × scale, as the decimal it stands for: a scale of 1/n divides by n, which rounds
    once, to the float nearest the decimal (2137 / 100 is 21.37; 2137 × 0.01 is not)."""
    inverse = 1.0 / scale
    if inverse == round(inverse):
        return raw / round(inverse)
    return raw * scale


def encode_registers(value: float, value_type: ValueType, order: Order) -> tuple[int, ...]:
    """The registers a device in `order` sends for `value`. Raises ValueError if it does not fit."""
    if value_type not in FLOAT_TYPES and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number: it does not fit {value_type}")
        value = int(value)
    try:
        data = struct.pack(">" + _STRUCT[value_type], value)
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"{value!r} does not fit {value_type}: {exc}") from None
    return reorder(struct.unpack(f">{len(data) // 2}H", data), order)


def type_limits(value_type: ValueType) -> tuple[float, float]:
    """The smallest and largest raw value of a type."""
    if value_type in FLOAT_TYPES:
        return -math.inf, math.inf
    bits = 16 * WORDS[value_type]
    if value_type.startswith("u"):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def is_subnormal(value: float, value_type: ValueType) -> bool:
    """A float too small to be normal: no sensor reports one, a word-swapped value often is."""
    smallest = 1.1754943508222875e-38 if value_type == "float32" else 2.2250738585072014e-308
    return value_type in FLOAT_TYPES and value != 0.0 and abs(value) < smallest

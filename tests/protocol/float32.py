"""float32 values as decimals, worked out with decimal arithmetic: an oracle for the register
codec that shares nothing with it."""

from __future__ import annotations

import math
import struct
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


def same_float32(a: float, b: float) -> bool:
    try:
        return struct.pack(">f", a) == struct.pack(">f", b)
    except OverflowError:  # beyond the largest float32: no float32 at all
        return False


def shortest_decimal(x: float) -> float:
    """The decimal with the fewest significant digits that is the float32 `x` (the nearest to
    `x` of those, the even one of two as near): what a device that sent `x` meant. NaN,
    infinities and zeros stay."""
    if not math.isfinite(x) or x == 0:
        return x
    exact = Decimal(x)
    for digits in range(1, 10):
        step = Decimal(1).scaleb(exact.adjusted() - digits + 1)
        fits = [
            c
            for c in (exact.quantize(step, ROUND_FLOOR), exact.quantize(step, ROUND_CEILING))
            if same_float32(float(c), x)
        ]
        if fits:
            return float(min(fits, key=lambda c: (abs(c - exact), c.as_tuple().digits[-1] % 2)))
    raise AssertionError(f"{x!r}: no decimal of 9 digits or fewer is this float32")


def as_float32(x: float) -> float:
    """The float32 nearest to `x` (what a device sends for it), as a Python float."""
    value: float = struct.unpack(">f", struct.pack(">f", x))[0]
    return value

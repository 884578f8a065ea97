"""What every way of reading the RL-1600 reference logger shares, whatever the interface (Modbus,
ASCII, or the simulator in-process): the quality of each reading, live or from memory, and the
range its clock takes.

One set of rules gives the quality, so that one condition gets one quality word however it was
read (docs/qualities.md). A live Modbus read brings each point's status word (PROTOCOL.md §7.1);
a VAL or REC line and a memory record bring none, so there the bits are inferred from the values
the way §7.1, §10 and §13 say the logger sets them: NaN in a channel above `channel_count` is
"not fitted", NaN in another temperature or RH channel an open or short circuit (a record cannot
tell which), a value outside the point's range "out of range", and a frost point that is NaN, or
computed from an input outside its range, "out of range" too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from loggerd.core.samples import Quality, Reading
from loggerd_protocol.definition import Point, reference_logger

DEFN = reference_logger()

_BIT = {name: 1 << bit for name, bit in DEFN.channel_status_bits.items()}
OPEN_CIRCUIT = _BIT["open_circuit"]
SHORT_CIRCUIT = _BIT["short_circuit"]
OUT_OF_RANGE = _BIT["out_of_range"]
NOT_FITTED = _BIT["not_fitted"]
# PROTOCOL.md §13: the logger computes the frost point from channel 1 and the RH.
FROST_POINT = "frost_point"
FROST_POINT_INPUTS = ("temperature_1", "rh")


def _clock_range_s() -> tuple[int, int]:
    limits = DEFN.field("clock").range
    assert limits is not None, "reference_logger.toml gives the clock's range"
    return int(limits[0]), int(limits[1])


# PROTOCOL.md §12: 946684800 … 4102444800 (2000-01-01 … 2100-01-01); the logger refuses any
# other time with exception 03 (Modbus) or ERR 2 (ASCII).
CLOCK_RANGE_S = _clock_range_s()


def _in_range(point: Point, value: float) -> bool:
    return point.range[0] <= value <= point.range[1]  # False for NaN


def _channel(point: Point) -> int | None:
    """The number of a temperature channel (1 … 16), None for the RH and the frost point."""
    prefix = "temperature_"
    return int(point.name[len(prefix) :]) if point.name.startswith(prefix) else None


def _inferred_status(point: Point, values: Mapping[str, float], channel_count: int | None) -> int:
    """The status bits the logger would have sent with these values (see the module's doc)."""
    value = values[point.name]
    if point.name == FROST_POINT:
        inputs_in_range = all(
            _in_range(DEFN.point(name), values.get(name, math.nan)) for name in FROST_POINT_INPUTS
        )
        return 0 if _in_range(point, value) and inputs_in_range else OUT_OF_RANGE
    if math.isnan(value):
        channel = _channel(point)
        fitted = channel is None or channel_count is None or channel <= channel_count
        return OPEN_CIRCUIT if fitted else NOT_FITTED
    return 0 if _in_range(point, value) else OUT_OF_RANGE


def quality_of(point: Point, status: int, values: Mapping[str, float]) -> Quality:
    """The quality of one point's value given its status bits (as sent, or inferred)."""
    value = values[point.name]
    if status & NOT_FITTED:
        return Quality.NOT_FITTED
    if status & (OPEN_CIRCUIT | SHORT_CIRCUIT):
        return Quality.SENSOR_FAULT
    if point.name == FROST_POINT and math.isnan(value):
        # Not computable: for want of an input (missing, like the input), or out of range.
        if any(math.isnan(values.get(name, math.nan)) for name in FROST_POINT_INPUTS):
            return Quality.MISSING
        return Quality.OUT_OF_RANGE
    if status & OUT_OF_RANGE:
        return Quality.OUT_OF_RANGE
    if math.isnan(value):
        return Quality.SENSOR_FAULT  # NaN with no reason given: the channel is not usable
    return Quality.GOOD


# Each point as readings() walks them: the point, its name, its range, whether it is the frost
# point (whose quality also depends on its inputs).
_WALK = [(p, p.name, p.range[0], p.range[1], p.name == FROST_POINT) for p in DEFN.points]
_FROST_INPUTS = [(name, *DEFN.point(name).range) for name in FROST_POINT_INPUTS]


def readings(
    values: Mapping[str, float],
    status: Mapping[str, int] | None = None,
    channel_count: int | None = None,
) -> list[Reading]:
    """One reading per point, live or from a record: NaN as the value unless GOOD, and what
    came kept as raw_value. `status` holds the point's status words where the read brought
    them; otherwise they are inferred from the values, which needs `channel_count` (the
    channels fitted, from the identity) to tell a channel not fitted from an open one.

    A value in its point's range with no status bit set is GOOD by every rule (a frost point
    when its inputs are in range too), and a point whose status says "not fitted" is
    NOT_FITTED whatever else: those cases, nearly every reading, are decided here without the
    rules' walk (a thousand loggers polled at 1 Hz made it a tenth of a poll's
    cost); any other goes through the rules (_by_the_rules, which a test holds this to)."""
    out = []
    inputs_in_range: bool | None = None
    good, not_fitted = Quality.GOOD, Quality.NOT_FITTED
    for point, name, low, high, is_frost in _WALK:
        raw = values[name]
        bits = 0 if status is None else status.get(name, 0)
        if bits & NOT_FITTED:  # the rules' first: whatever else is set or inferred
            out.append(Reading(name, math.nan, raw, not_fitted))
            continue
        if not bits and low <= raw <= high:
            if not is_frost:
                out.append(Reading(name, raw, raw, good))
                continue
            if inputs_in_range is None:
                inputs_in_range = all(
                    lo <= values.get(n, math.nan) <= hi for n, lo, hi in _FROST_INPUTS
                )
            if inputs_in_range:
                out.append(Reading(name, raw, raw, good))
                continue
        out.append(_by_the_rules(point, values, status, channel_count))
    return out


def _by_the_rules(
    point: Point,
    values: Mapping[str, float],
    status: Mapping[str, int] | None,
    channel_count: int | None,
) -> Reading:
    """One point's reading by the rules (see the module's doc)."""
    bits = _inferred_status(point, values, channel_count)
    if status is not None:
        bits |= status.get(point.name, 0)
    quality = quality_of(point, bits, values)
    raw = values[point.name]
    return Reading(point.name, raw if quality is Quality.GOOD else math.nan, raw, quality)

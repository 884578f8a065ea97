"""What every way of reading the RL-1600 reference logger shares, whatever the interface (Modbus,
ASCII, or the simulator in-process): the range its clock takes."""

from __future__ import annotations

from loggerd_protocol.definition import reference_logger

DEFN = reference_logger()


def _clock_range_s() -> tuple[int, int]:
    limits = DEFN.field("clock").range
    assert limits is not None, "reference_logger.toml gives the clock's range"
    return int(limits[0]), int(limits[1])


# PROTOCOL.md §12: 946684800 … 4102444800 (2000-01-01 … 2100-01-01); the logger refuses any
# other time with exception 03 (Modbus) or ERR 2 (ASCII).
CLOCK_RANGE_S = _clock_range_s()

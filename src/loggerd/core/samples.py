"""The unit of data that flows from drivers to the ring buffer, the store and the API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar, dataclass_transform

_T = TypeVar("_T")


class Quality(StrEnum):
    """How far a sample can be trusted; docs/qualities.md is the table of them all.

    GOOD, and the two flags SUPERSATURATED and INCONSISTENT, carry a value; every other
    quality means there is no usable value (NaN here, NULL in the store, null in the API).
    The store keeps the word in a column of 16 characters: no longer word fits.
    """

    GOOD = "good"
    SENSOR_FAULT = "sensor_fault"  # the device flags the sensor itself: open, short, a fault
    OUT_OF_RANGE = "out_of_range"  # outside the sensor's range, or a formulation's range
    # No value came: the device did not answer in time or the link is down, the device says it
    # has none ("unavailable"), or a value derived from inputs lacks one of them.
    MISSING = "missing"
    INVALID = "invalid"  # the device answered with a frame we could not use
    CAL_OUT_OF_RANGE = "cal_out_of_range"  # outside the calibration table: never extrapolated
    SUPERSATURATED = "supersaturated"  # RH over ice above 100 %: frost forming or a wet probe
    INCONSISTENT = "inconsistent"  # the device's own value disagrees with ours beyond the limit
    NOT_FITTED = "not_fitted"  # the device has no sensor on this channel
    # No poll ran at this tick: the one before it overran (a slow or dead line, a loaded host),
    # or the device's line was quarantined (no device on it answered). Said in history, so a
    # hole there has a reason.
    SKIPPED = "skipped"


VALUED_QUALITIES = frozenset({Quality.GOOD, Quality.SUPERSATURATED, Quality.INCONSISTENT})


class TimeSource(StrEnum):
    """Whose clock stamped a sample."""

    HOST = "host"
    LOGGER = "logger"


@dataclass_transform(frozen_default=True)
def _value_record(cls: type[_T]) -> type[_T]:
    """A frozen dataclass to the type checker (an assignment to a field is an error), made
    without the run-time guard: a frozen dataclass sets each field through
    object.__setattr__, and a Sample took 1.9 µs to make instead of 0.23 µs. A download makes
    ten a record and live polling ten a poll, thousands a second (and a Reading a point, 18
    a live read of the RL-1600); nothing assigns to one."""
    return dataclass(slots=True, unsafe_hash=True)(cls)  # hashed by its fields, as if frozen


@_value_record
class Reading:
    """One value of one device point, as a driver hands it on (before channel mapping)."""

    point: str
    value: float  # NaN when there is no usable value
    raw_value: float  # what the device sent, before any correction (NaN when nothing came)
    quality: Quality


@_value_record
class Sample:
    """One value of one chamber channel at one instant, as stored and served."""

    chamber_id: str
    channel_id: str
    timestamp_us: int  # UTC, microseconds since the Unix epoch
    value: float  # NaN when quality is not GOOD
    raw_value: float
    quality: Quality
    time_source: TimeSource
    sequence: int | None = None  # the logger's record sequence number, when known
    calibration_version: int | None = None  # the certificate version that corrected value
    uncertainty: float | None = None  # expanded uncertainty (k = 2) of value, when known
    method: str | None = None  # how a derived value was computed (the formulation)
    # For a logger-stamped sample, the clock offset (logger minus host) its timestamp was
    # corrected by: the logger's own time was timestamp_us + clock_offset_us.
    clock_offset_us: int | None = None

    @property
    def has_value(self) -> bool:
        return self.quality in VALUED_QUALITIES and not math.isnan(self.value)

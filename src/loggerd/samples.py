"""The unit of data that flows from drivers to the ring buffer, the store and the API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Quality(StrEnum):
    """How far a sample can be trusted. Anything but GOOD carries no usable value."""

    GOOD = "good"
    SENSOR_FAULT = "sensor_fault"  # the device answered but flags the channel (open, short…)
    OUT_OF_RANGE = "out_of_range"  # the device answered with a value outside the sensor range
    MISSING = "missing"  # the device did not answer in time, or the link is down
    INVALID = "invalid"  # the device answered with a frame we could not use


class TimeSource(StrEnum):
    """Whose clock stamped a sample."""

    HOST = "host"
    LOGGER = "logger"


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one device point, as a driver hands it on (before channel mapping)."""

    point: str
    value: float  # NaN when there is no usable value
    raw_value: float  # what the device sent, before any correction (NaN when nothing came)
    quality: Quality


@dataclass(frozen=True, slots=True)
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

    @property
    def has_value(self) -> bool:
        return self.quality is Quality.GOOD and not math.isnan(self.value)

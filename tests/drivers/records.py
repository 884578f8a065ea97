"""What both reference drivers' memory reads must give: the simulator's memory, exactly."""

from __future__ import annotations

import math

import pytest

from loggerd.core.samples import Quality
from loggerd.drivers.base import LoggedRecord
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.values import Record

DEFN = reference_logger()
HUNDREDTH = 0.005 + 1e-9  # a record holds values in 0.01 steps


def assert_records_match(got: list[LoggedRecord], want: list[Record]) -> None:
    """Records as read equal the simulator's memory: same sequence and time, every value at
    the record's 0.01 resolution, missing values flagged (never 0)."""
    assert [r.sequence for r in got] == [r.sequence for r in want]
    for record, truth in zip(got, want, strict=True):
        assert record.logger_time_us == truth.timestamp * 1_000_000
        assert [r.point for r in record.readings] == list(DEFN.point_names())
        for reading in record.readings:
            expected = truth.values[reading.point]
            if math.isnan(expected):
                assert reading.quality is Quality.SENSOR_FAULT, (record.sequence, reading)
                assert math.isnan(reading.value) and math.isnan(reading.raw_value)
            else:
                assert reading.quality is Quality.GOOD, (record.sequence, reading)
                assert reading.value == pytest.approx(expected, abs=HUNDREDTH)
                assert reading.raw_value == reading.value

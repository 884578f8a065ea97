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


def missing_quality(point: str, values: dict[str, float], channel_count: int) -> Quality:
    """Why a record has no value for `point` (docs/qualities.md): a channel not fitted, a frost
    point without its inputs (missing) or not computable from them (out of range), or else a
    faulty sensor."""
    if point.startswith("temperature_") and int(point.split("_")[1]) > channel_count:
        return Quality.NOT_FITTED
    if point == "frost_point":
        inputs = (values["temperature_1"], values["rh"])
        return Quality.MISSING if any(map(math.isnan, inputs)) else Quality.OUT_OF_RANGE
    return Quality.SENSOR_FAULT


def assert_records_match(
    got: list[LoggedRecord], want: list[Record], channel_count: int = 8
) -> None:
    """Records as read equal the simulator's memory: same sequence and time, every value at
    the record's 0.01 resolution, missing values flagged (never 0)."""
    assert [r.sequence for r in got] == [r.sequence for r in want]
    for record, truth in zip(got, want, strict=True):
        assert record.logger_time_us == truth.timestamp * 1_000_000
        assert [r.point for r in record.readings] == list(DEFN.point_names())
        for reading in record.readings:
            expected = truth.values[reading.point]
            if math.isnan(expected):
                why = missing_quality(reading.point, dict(truth.values), channel_count)
                assert reading.quality is why, (record.sequence, reading)
                assert math.isnan(reading.value) and math.isnan(reading.raw_value)
            else:
                assert reading.quality is Quality.GOOD, (record.sequence, reading)
                assert reading.value == pytest.approx(expected, abs=HUNDREDTH)
                assert reading.raw_value == reading.value

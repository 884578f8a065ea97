"""The API's response models: every field with its unit or meaning, as the OpenAPI shows them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


def finite(x: float | None) -> float | None:
    """A value for JSON: NaN (no value) is null, as JSON has no NaN."""
    return None if x is None or math.isnan(x) else x


class ErrorOut(BaseModel):
    """Every error answer (404, 422, 503): one line saying what is wrong and what to do."""

    detail: str = Field(description="What is wrong and what to do, in one line")


class TooManyPointsOut(ErrorOut):
    """A 422 of history: with `max_points` when the range holds more raw points than JSON
    answers (a request for them is refused before anything is read)."""

    max_points: int | None = Field(
        default=None,
        description="When the range holds too many raw points: the max_points to ask for "
        "instead (the most detail JSON answers)",
    )


class ChannelOut(BaseModel):
    id: str
    name: str
    quantity: str
    unit: str
    device_id: str


class ChamberOut(BaseModel):
    id: str
    name: str | None
    channels: list[ChannelOut]


class ChambersOut(BaseModel):
    chambers: list[ChamberOut]


class CalibrationOut(BaseModel):
    certificate_id: str
    version: int
    laboratory: str
    issued: str
    due: str
    past_due: bool = Field(description="The certificate's due date has passed: recalibrate")


class ReadingOut(BaseModel):
    channel: str
    quantity: str
    value: float | None = Field(
        description="In `unit`, corrected with the channel's certificate when it has one; "
        "null when there is no usable value"
    )
    raw_value: float | None = Field(description="As the device sent it, never corrected")
    unit: str
    timestamp: str | None = Field(description="ISO 8601, UTC")
    time_source: str | None = Field(description="Whose clock stamped it: host or logger")
    quality: str = Field(
        description="good; supersaturated or inconsistent (flagged, value kept); "
        "sensor_fault, out_of_range, not_fitted, cal_out_of_range, missing or invalid (no "
        "value); no_data before the first poll. Each word: docs/qualities.md"
    )
    age_s: float | None
    uncertainty: float | None = Field(
        default=None, description="Expanded uncertainty (k = 2) of value, in `unit`"
    )
    method: str | None = Field(
        default=None, description="Derived channels: the formulation used (e.g. hardy1998)"
    )
    calibration_version: int | None = None
    calibration: CalibrationOut | None = Field(
        default=None, description="The channel's certificate, with its due date"
    )


class LatestOut(BaseModel):
    chamber_id: str
    readings: list[ReadingOut]


class PointOut(BaseModel):
    channel: str
    timestamp: str = Field(description="ISO 8601, UTC; of an aggregated point, its bucket's start")
    value: float | None = Field(description="The value; of an aggregated point, the mean")
    raw_value: float | None = None
    quality: str | None = None
    time_source: str | None = None
    sequence: int | None = None
    logger_time: str | None = Field(
        default=None,
        description="A logger record's own, uncorrected time (ISO 8601); timestamp is it "
        "corrected by the clock offset measured against the host",
    )
    uncertainty: float | None = Field(default=None, description="Expanded (k = 2), in the unit")
    calibration_version: int | None = None
    method: str | None = None
    min: float | None = Field(default=None, description="Aggregated points: smallest value")
    max: float | None = Field(default=None, description="Aggregated points: largest value")
    count: int | None = Field(default=None, description="Aggregated points: good values in it")


class SeriesOut(BaseModel):
    source: str = Field(
        description="raw (samples as stored), raw_buckets (aggregated from raw samples) or "
        "the rollup the buckets come from: 1m, 10m, 1h, 1d"
    )
    bucket_width_s: float | None = Field(description="Width of aggregated points; null for raw")
    points: int


class HistoryOut(BaseModel):
    chamber_id: str
    start: str
    end: str
    units: dict[str, str] = Field(description="Unit of each channel's values")
    series: dict[str, SeriesOut] | None = Field(
        default=None, description="With max_points: how each channel was downsampled"
    )
    points: list[PointOut]


class DeviceHealthOut(BaseModel):
    """Every field of the acquisition's DeviceHealth (timestamps as ISO 8601 UTC)."""

    model_config = ConfigDict(extra="allow")

    chamber_id: str
    device_id: str
    driver: str
    state: str


class LineHealthOut(BaseModel):
    """A line shared by two or more devices; every field of the acquisition's LineHealth."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="The serial port or TCP endpoint, as configured")
    devices: list[str] = Field(description="chamber/device of each device on the line")
    quarantined: bool = Field(
        description="No device on it answered: none is polled until quarantine_until_utc, "
        "then one probes the line"
    )
    quarantines: int = Field(description="Back-off periods it was quarantined for")
    quarantine_until_utc: str | None = Field(description="ISO 8601, UTC")


class WriterHealthOut(BaseModel):
    state: Literal["ok", "degraded"]
    reason: str | None = Field(description="Why degraded, and what to do")
    queued: int = Field(description="Samples accepted and not yet in the store")
    spooled: int = Field(description="Of those, samples safe in the spool on local disk")
    held: int = Field(description="Of those, samples in memory only (the spool refused them)")
    spool_bytes: int | None
    spool_append_ms_p99: float | None = Field(
        description="99th percentile of the latest 600 spool appends, in ms: what a poll's "
        "hand-off to history waits"
    )
    capacity: int = Field(description="Samples held in memory at which acquisition waits")
    written: int
    duplicates: int
    conflicts: int = Field(description="Logger records read again with another value")
    expired: int
    failed_flushes: int
    lag_s: float | None = Field(description="Age of the oldest sample not yet in the store")
    last_flush: str | None
    last_flush_duration_s: float | None
    last_error: str | None


class StoreHealthOut(BaseModel):
    engine: Literal["sqlite", "postgresql"]
    url: str = Field(description="Without password")
    schema_: str | None = Field(alias="schema")


class EventOut(BaseModel):
    time: str = Field(description="ISO 8601, UTC")
    chamber_id: str | None
    device_id: str | None
    kind: str
    severity: Literal["info", "warning", "error"]
    message: str
    details: dict[str, Any]


class EventsOut(BaseModel):
    events: list[EventOut] = Field(description="Newest first")


class GapOut(BaseModel):
    chamber_id: str
    device_id: str
    first_sequence: int
    last_sequence: int
    records: int = Field(description="Logger records lost for good")
    start: str | None = Field(description="Time of the last record kept before the gap")
    end: str | None = Field(description="Time of the first record kept after it")
    detected: str


class GapsOut(BaseModel):
    gaps: list[GapOut]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(description="Why degraded: one line per cause")
    version: str
    devices: list[DeviceHealthOut]
    lines: list[LineHealthOut] = Field(
        description="Lines shared by two or more devices (a device alone on its line is "
        "quarantined as a device)"
    )
    writer: WriterHealthOut | None = Field(
        description="The writer's state; null on an API replica, which writes nothing"
    )
    store: StoreHealthOut


# An ISO 8601 time in a request body, declared as such so clients (and fuzzers) send one.
IsoTimeIn = Annotated[
    str | None,
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
]


class TargetIn(BaseModel):
    # strict: a JSON true is no number (lax mode would read it as 1.0)
    model_config = ConfigDict(extra="forbid", strict=True)
    setpoint: float = Field(description="In the quantity's unit", allow_inf_nan=False)
    tolerance: float = Field(ge=0, description="±, in the quantity's unit", allow_inf_nan=False)
    start: float | None = Field(
        default=None,
        description="A ramp's starting value; the setpoint before it when absent",
        allow_inf_nan=False,
    )


class SegmentIn(BaseModel):
    # strict: a JSON true is no number (lax mode would read it as 1.0)
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["ramp", "soak"] = Field(
        description="ramp: from the setpoint before to this one over the duration; soak: hold"
    )
    duration_s: float = Field(gt=0, allow_inf_nan=False)
    name: str = ""
    temperature_c: TargetIn | None = None
    rh_pct: TargetIn | None = Field(default=None, description="Humidity as relative humidity")
    frost_point_c: TargetIn | None = Field(default=None, description="Humidity as frost point")
    ppmv: TargetIn | None = Field(default=None, description="Humidity as volume fraction")


class ProfileIn(BaseModel):
    # strict: a JSON true is no number (lax mode would read it as 1.0)
    model_config = ConfigDict(extra="forbid", strict=True)
    segments: list[SegmentIn] = Field(min_length=1)


class RunIn(BaseModel):
    # strict: a JSON true is no number (lax mode would read it as 1.0)
    model_config = ConfigDict(extra="forbid", strict=True)
    chamber_id: str = Field(examples=["chamber-1"])
    test_id: str = Field(min_length=1, max_length=200, examples=["DO-160G 4.5.1 T-42"])
    unit_under_test: str = Field(min_length=1, max_length=200, examples=["PSU-7 s/n 0031"])
    operator: str = Field(min_length=1, max_length=200, examples=["j.li"])
    profile: ProfileIn
    start: IsoTimeIn = Field(
        default=None, description="ISO 8601 (UTC when no offset); now when absent"
    )
    notes: str = ""


class RunCloseIn(BaseModel):
    # strict: a JSON true is no number (lax mode would read it as 1.0)
    model_config = ConfigDict(extra="forbid", strict=True)
    end: IsoTimeIn = Field(
        default=None, description="ISO 8601 (UTC when no offset); now when absent"
    )


class RunOut(BaseModel):
    id: int
    chamber_id: str
    test_id: str
    unit_under_test: str
    operator: str
    start: str = Field(description="ISO 8601, UTC")
    end: str | None = Field(description="ISO 8601, UTC; null while the run is open")
    open: bool
    profile: ProfileIn
    created: str = Field(description="ISO 8601, UTC")
    notes: str


class RunsOut(BaseModel):
    runs: list[RunOut]


class AlarmActionOut(BaseModel):
    time: str = Field(description="ISO 8601, UTC")
    action: Literal["raised", "acknowledged", "cleared"]
    by: str | None
    text: str


class AlarmOut(BaseModel):
    id: int
    chamber_id: str
    kind: str = Field(
        description="high, low, rate, deviation, sensor_fault, stale, communication, memory, "
        "calibration"
    )
    subject: str = Field(description="The channel, or for communication and memory the device")
    severity: Literal["warning", "critical"]
    state: Literal["active", "acknowledged", "cleared"] = Field(
        description="acknowledged: still active, seen by a person"
    )
    message: str
    value: float | None = Field(description="The value that raised it, in the channel's unit")
    limit: float | None
    raised: str = Field(description="ISO 8601, UTC: the time of the sample that raised it")
    cleared: str | None
    acknowledged: str | None
    acknowledged_by: str | None
    comment: str | None
    history: list[AlarmActionOut]


class AlarmsOut(BaseModel):
    alarms: list[AlarmOut]


class AckIn(BaseModel):
    # strict: a JSON true is no number (lax mode would read it as 1.0)
    model_config = ConfigDict(extra="forbid", strict=True)
    by: str = Field(min_length=1, max_length=200, description="Who acknowledges", examples=["j.li"])
    comment: str = Field(
        min_length=1, description="What was seen or done", examples=["door seal checked"]
    )

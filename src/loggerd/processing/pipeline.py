"""Between acquisition and storage: calibration corrections, then derived humidity channels.

Order matters and is fixed: temperature channels are corrected with their certificates first,
then RH channels (a 2-D RH certificate uses the corrected probe temperature), and only then
are derived quantities (dew and frost point, ppmv, mixing ratio, …) computed from the
corrected values. The raw value of every sample stays as it came from the device.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import numpy as np

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.processing import humidity
from loggerd.processing.batch import batchable, process_records
from loggerd.processing.calibration import correct, is_past_due
from loggerd.processing.specs import (
    MASK_OF,
    UNIT_OF,
    Calibration,
    DerivedQuantity,
    DerivedSpec,
    derived_uncertainty,
    derived_value,
)

__all__ = [
    "UNIT_OF",
    "Calibration",
    "ChamberProcessor",
    "DerivedQuantity",
    "DerivedSpec",
    "Processing",
]

log = logging.getLogger(__name__)


@dataclass
class _Latest:
    timestamp_us: int
    value: float
    quality: Quality
    uncertainty: float | None


def _today() -> date:
    return datetime.now(UTC).date()


class ChamberProcessor:
    """Corrects and derives the samples of one chamber, one poll (or record) at a time; a
    download's records together through processing.batch, to the same result."""

    def __init__(
        self,
        chamber_id: str,
        calibrations: Mapping[str, Calibration],
        derived: Sequence[DerivedSpec],
        today: Callable[[], date] = _today,
    ) -> None:
        self.chamber_id = chamber_id
        self.calibrations = dict(calibrations)
        self.derived = list(derived)
        self.today = today
        self._latest: dict[str, _Latest] = {}
        # Temperatures first: a 2-D RH certificate needs the corrected probe temperature.
        self._order = sorted(
            self.calibrations,
            key=lambda c: self.calibrations[c].certificate.quantity != "temperature",
        )
        self.batchable = batchable(self.calibrations, self.derived)

    @property
    def order(self) -> list[str]:
        """The calibrated channels in the order they are corrected."""
        return self._order

    def latest(self, channel_id: str) -> _Latest | None:
        """The channel's latest sample remembered (an input of derived channels)."""
        return self._latest.get(channel_id)

    def latest_value(self, channel_id: str) -> float | None:
        latest = self._latest.get(channel_id)
        return None if latest is None else latest.value

    def remember(self, s: Sample) -> None:
        self._latest[s.channel_id] = _Latest(s.timestamp_us, s.value, s.quality, s.uncertainty)

    _remember = remember

    def past_due(self, channel_id: str) -> bool:
        cal = self.calibrations.get(channel_id)
        return cal is not None and is_past_due(cal.certificate, self.today())

    def process(self, samples: list[Sample]) -> list[Sample]:
        """Corrected samples of this poll, followed by the derived samples it allows."""
        by_channel = {s.channel_id: i for i, s in enumerate(samples)}
        out = list(samples)
        for s in out:
            if s.channel_id not in self.calibrations:
                self._remember(s)
        for channel_id in self._order:  # temperatures first, then RH (which may need them)
            i = by_channel.get(channel_id)
            if i is not None:
                out[i] = self._correct(out[i])
                self._remember(out[i])
        derived = []
        # A derived value is stamped like the samples it comes from: a logger record's derived
        # values carry its clock, sequence number and clock correction.
        newest = max(samples, key=lambda s: s.timestamp_us)
        for spec in self.derived:
            if spec.temperature_channel in by_channel or spec.rh_channel in by_channel:
                sample = self._derive(spec, newest.timestamp_us)
                if sample is not None:
                    if newest.time_source is not TimeSource.HOST:
                        # The record's number only when every input is in this record: a
                        # derived channel fed by two loggers is keyed on time alone.
                        inputs = (spec.temperature_channel, spec.rh_channel, spec.pressure_channel)
                        own = all(c is None or c in by_channel for c in inputs)
                        sample = replace(
                            sample,
                            time_source=newest.time_source,
                            sequence=newest.sequence if own else None,
                            clock_offset_us=newest.clock_offset_us,
                        )
                    derived.append(sample)
                    self._remember(sample)
                    self._cross_check(spec, sample, out, by_channel)
        return out + derived

    # --- calibration -------------------------------------------------------------------------

    def _correct(self, s: Sample) -> Sample:
        cal = self.calibrations[s.channel_id]
        cert = cal.certificate
        if math.isnan(s.raw_value) or s.quality not in (Quality.GOOD,):
            return replace(s, calibration_version=cert.version)
        probe_t: float | None = None
        if cert.rows is not None:
            probe = self._latest.get(cal.probe_temperature_channel or "")
            probe_t = probe.value if probe is not None else math.nan
        c = correct(cert, s.raw_value, probe_t)
        if bool(c.out_of_range):
            return replace(
                s,
                value=math.nan,
                quality=Quality.CAL_OUT_OF_RANGE,
                calibration_version=cert.version,
            )
        corrected = float(c.corrected)
        return replace(
            s,
            value=corrected,
            quality=s.quality if not math.isnan(corrected) else Quality.INVALID,
            calibration_version=cert.version,
            uncertainty=float(c.expanded_uncertainty),
        )

    # --- derived channels ----------------------------------------------------------------

    def _input(self, channel_id: str, now_us: int, max_age_s: float) -> _Latest | None:
        latest = self._latest.get(channel_id)
        # Either way: a record downloaded from a logger's memory is older than what is
        # remembered from live reads, or from another logger's newer records.
        if latest is None or abs(now_us - latest.timestamp_us) > max_age_s * 1e6:
            return None
        return latest

    def _derive(self, spec: DerivedSpec, now_us: int) -> Sample | None:
        t = self._input(spec.temperature_channel, now_us, spec.max_input_age_s)
        rh = self._input(spec.rh_channel, now_us, spec.max_input_age_s)
        pressure = spec.pressure_hpa
        if spec.pressure_channel is not None:
            p = self._input(spec.pressure_channel, now_us, spec.max_input_age_s)
            pressure = p.value if p is not None and p.quality is Quality.GOOD else math.nan
        usable = (Quality.GOOD, Quality.SUPERSATURATED)
        if t is None or rh is None or t.quality not in usable or rh.quality not in usable:
            return self._derived_sample(spec, now_us, math.nan, Quality.MISSING, None)
        if math.isnan(pressure):
            return self._derived_sample(spec, now_us, math.nan, Quality.MISSING, None)
        ok = bool(
            humidity.valid_input_mask(
                t.value,
                rh.value,
                quantity=MASK_OF[spec.quantity],
                pressure_hpa=pressure,
                formulation=spec.formulation,
            )
        )
        if not ok:
            return self._derived_sample(spec, now_us, math.nan, Quality.OUT_OF_RANGE, None)
        try:
            value = self._compute(spec, t.value, rh.value, pressure)
            uncertainty = self._uncertainty(spec, t, rh, pressure)
            # Over ice (at or below 0 °C) more than 100 %RH: frost forming, or a wet probe.
            supersaturated = (
                t.value <= 0.0
                and humidity.rh_over_ice_pct(t.value, rh.value, formulation=spec.formulation)
                > 100.0
            )
        except humidity.HumidityRangeError:
            # valid_input_mask should have caught it; a flag is still better than a lost poll.
            return self._derived_sample(spec, now_us, math.nan, Quality.OUT_OF_RANGE, None)
        quality = Quality.SUPERSATURATED if supersaturated else Quality.GOOD
        return self._derived_sample(spec, now_us, value, quality, uncertainty)

    @staticmethod
    def _compute(spec: DerivedSpec, t: float, rh: float, p: float) -> float:
        return float(derived_value(spec, np.asarray(t), np.asarray(rh), np.asarray(p)))

    def _uncertainty(
        self, spec: DerivedSpec, t: _Latest, rh: _Latest, pressure: float
    ) -> float | None:
        u_t = t.uncertainty if t.uncertainty is not None else spec.u_temperature_k
        u_rh = rh.uncertainty if rh.uncertainty is not None else spec.u_rh_pct
        if u_t is None or u_rh is None:
            return None
        u = derived_uncertainty(
            spec, *(np.asarray(x) for x in (t.value, rh.value, u_t, u_rh, pressure))
        )
        return None if u is None else float(u)

    def _derived_sample(
        self,
        spec: DerivedSpec,
        timestamp_us: int,
        value: float,
        quality: Quality,
        uncertainty: float | None,
    ) -> Sample:
        return Sample(
            self.chamber_id,
            spec.channel_id,
            timestamp_us,
            value,
            value,  # a derived value has no device reading: raw is what we computed
            quality,
            TimeSource.HOST,
            uncertainty=uncertainty,
            method=spec.formulation.value,
        )

    def _cross_check(
        self, spec: DerivedSpec, derived: Sample, out: list[Sample], by_channel: dict[str, int]
    ) -> None:
        """Flag the device's own value when it disagrees with ours by more than the limit."""
        if spec.check_channel is None or not derived.has_value:
            return
        i = by_channel.get(spec.check_channel)
        if i is None or not out[i].has_value:
            return
        if abs(out[i].value - derived.value) > spec.check_limit:
            out[i] = replace(out[i], quality=Quality.INCONSISTENT)


class Processing:
    """Every chamber's processing. Records from loggers' memories go through processors of
    their own: a derived value must never combine a record of an hour ago with a live reading
    of now. A download's records are processed together (processing.batch), each as if alone."""

    def __init__(
        self,
        live: Mapping[str, ChamberProcessor],
        records: Mapping[str, ChamberProcessor],
    ) -> None:
        self.live = dict(live)
        self.records = dict(records)

    def computes(self, chamber_id: str) -> bool:
        """Whether the chamber's samples are changed or added to at all: a chamber without
        certificates and derived channels passes its samples on as they are."""
        return any(
            p is not None and (p.calibrations or p.derived)
            for p in (self.live.get(chamber_id), self.records.get(chamber_id))
        )

    def process(self, samples: list[Sample]) -> list[Sample]:
        """One poll's samples (one chamber), or one download's records (one logger):
        corrected, each poll or record followed by the derived samples it allows."""
        if not samples:
            return samples
        if samples[0].time_source is not TimeSource.LOGGER:
            return _process(samples, self.live)
        out: list[Sample] = []
        start = 0
        for i in range(1, len(samples) + 1):
            if i == len(samples) or samples[i].sequence != samples[start].sequence:
                if start == 0 and i < len(samples):
                    # Records of one layout (a download's window): processed together.
                    together = _process_records(samples, i, self.records)
                    if together is not None:
                        return together
                out.extend(_process(samples[start:i], self.records))
                start = i
        return out


def _process_records(
    samples: list[Sample], width: int, processors: Mapping[str, ChamberProcessor]
) -> list[Sample] | None:
    """A batch of records through processing.batch; None when it does not take them (the
    caller then goes record by record, and its errors are handled there, record by record)."""
    processor = processors.get(samples[0].chamber_id)
    if processor is None:
        return None
    try:
        return process_records(processor, samples, width)
    except Exception:
        # A formulation that raised despite the masks, or a bug in the batch: record by record,
        # the record at fault is flagged and the others are not.
        log.debug("processing %s as a batch failed", samples[0].chamber_id, exc_info=True)
        return None


def _process(samples: list[Sample], processors: Mapping[str, ChamberProcessor]) -> list[Sample]:
    processor = processors.get(samples[0].chamber_id)
    if processor is None:
        return samples
    try:
        return processor.process(samples)
    except Exception:
        # A bug in a correction or derivation must not cost the measurements: keep every raw
        # value, but a channel that should have been corrected has no trustworthy value
        # (invalid), and say so loudly.
        log.exception(
            "processing %s failed; raw values kept, calibrated channels invalid",
            samples[0].chamber_id,
        )
        return [
            replace(s, value=math.nan, quality=Quality.INVALID)
            if s.channel_id in processor.calibrations
            else s
            for s in samples
        ]

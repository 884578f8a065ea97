"""A download's records processed together: the calibration and derived channels of a chamber,
each computed once over arrays of the whole batch instead of once per record.

The result is the one ChamberProcessor.process gives record after record, to the last bits of
a value (tests/processing/test_batch.py compares the two on random batches): each record is
corrected with the probe temperature of its own record, and derived from inputs of its own
record, or, for an input it lacks, from the latest before it, judged for age against its own
time. That holds as long as no record's result depends on what is derived in the records
before it; configurations where it would (a derived channel as the input of another, or as the
probe temperature of an RH table), and batches that are not records of one layout, are left to
the record-by-record path (`process_records` says None). An input the masks let through and a
formulation refuses flags that one record, as record by record.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

import numpy as np
import numpy.typing as npt

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.processing import humidity
from loggerd.processing.calibration import correct
from loggerd.processing.specs import (
    MASK_OF,
    Calibration,
    DerivedSpec,
    derived_uncertainty,
    derived_value,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["batchable", "process_records"]

_USABLE = (Quality.GOOD, Quality.SUPERSATURATED)
_CHAMBER = attrgetter("chamber_id")
_TIME = attrgetter("timestamp_us")


class _Remembered(Protocol):
    @property
    def timestamp_us(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def quality(self) -> Quality: ...
    @property
    def uncertainty(self) -> float | None: ...


class _Processor(Protocol):
    """What a batch needs of its chamber's processor (pipeline.ChamberProcessor)."""

    @property
    def calibrations(self) -> Mapping[str, Calibration]: ...
    @property
    def derived(self) -> Sequence[DerivedSpec]: ...
    @property
    def order(self) -> list[str]: ...
    @property
    def batchable(self) -> bool: ...
    def latest(self, channel_id: str) -> _Remembered | None: ...
    def latest_value(self, channel_id: str) -> float | None: ...
    def remember(self, s: Sample) -> None: ...


def batchable(calibrations: Mapping[str, Calibration], derived: Sequence[DerivedSpec]) -> bool:
    """Whether a processor's records can be processed as a batch (see the module docstring)."""
    derived_ids = {spec.channel_id for spec in derived}
    for cal in calibrations.values():
        probe = cal.probe_temperature_channel
        if cal.certificate.rows is None or probe is None:
            continue
        if probe in derived_ids:
            return False
        probe_cal = calibrations.get(probe)
        # A probe corrected after the RH channel (not a temperature) gives the RH table the
        # probe's previous record.
        if probe_cal is not None and probe_cal.certificate.quantity != "temperature":
            return False
    for spec in derived:
        inputs = (spec.temperature_channel, spec.rh_channel, spec.pressure_channel)
        if any(c in derived_ids for c in inputs if c is not None):
            return False
    return True


@dataclass
class _Column:
    """One channel over the batch's records: what its samples say, as arrays."""

    value: FloatArray
    quality: list[Quality]
    timestamp_us: npt.NDArray[np.int64]
    uncertainty: FloatArray  # NaN where the sample has none (see has_uncertainty)
    has_uncertainty: BoolArray


@dataclass
class _Input:
    """A derived channel's input, per record: None where missing or too old."""

    value: FloatArray
    quality: list[Quality | None]
    uncertainty: FloatArray
    has_uncertainty: BoolArray


def process_records(
    processor: _Processor, samples: list[Sample], width: int
) -> list[Sample] | None:
    """The samples of `len(samples) // width` records of `width` samples each, corrected and
    each followed by its derived samples, or None when the batch is not one this path takes
    (the caller then processes it record by record). The processor's memory of the latest
    inputs moves on only when a result is returned."""
    if width <= 0 or len(samples) % width or not processor.batchable:
        return None
    count = len(samples) // width
    layout = [s.channel_id for s in samples[:width]]
    if len(set(layout)) != width or [s.channel_id for s in samples] != layout * count:
        return None
    chamber_id = samples[0].chamber_id
    if list(map(_CHAMBER, samples)).count(chamber_id) != len(samples):
        return None
    sequences = [s.sequence for s in samples]
    firsts = sequences[::width]
    if sequences != [q for q in firsts for _ in range(width)]:
        return None
    if any(a == b for a, b in itertools.pairwise(firsts)):
        return None  # two records of one number would be processed as one
    return _Batch(processor, samples, layout, count).run()


class _Batch:
    def __init__(
        self, processor: _Processor, samples: list[Sample], layout: list[str], count: int
    ) -> None:
        self.p = processor
        self.samples = samples
        self.width = len(layout)
        self.count = count
        self.position = {c: j for j, c in enumerate(layout)}
        self.columns: dict[str, _Column] = {}
        # Samples as handed on, by channel: replaced where corrected or flagged.
        self.out: dict[str, list[Sample]] = {}
        # As remembered (the input of a derived channel): the corrected samples, not flagged.
        self.remembered: dict[str, list[Sample]] = {}
        ts = np.fromiter(map(_TIME, samples), np.int64, len(samples))
        by_record = ts.reshape(count, self.width)
        # The newest sample of each record stamps its derived values (the first one, on a tie).
        self.newest = [
            samples[r * self.width + int(j)]
            for r, j in enumerate(np.argmax(by_record, axis=1).tolist())
        ]
        self.now_us = by_record.max(axis=1)

    def _samples(self, channel_id: str) -> list[Sample]:
        j = self.position[channel_id]
        return self.samples[j :: self.width]

    def _column(self, channel_id: str) -> _Column:
        column = self.columns.get(channel_id)
        if column is None:
            column = self.columns[channel_id] = _column_of(self.remembered.get(channel_id))
            if not len(column.value):
                column = self.columns[channel_id] = _column_of(self._samples(channel_id))
        return column

    def run(self) -> list[Sample]:
        for channel_id in self.p.order:
            if channel_id in self.position:
                self._correct(channel_id)
        derived: list[list[Sample]] = []
        for spec in self.p.derived:
            if spec.temperature_channel in self.position or spec.rh_channel in self.position:
                derived.append(self._derive(spec))
        # Everything computed: only now does the processor's memory move on.
        for channel_id in self.position:
            last = (self.remembered.get(channel_id) or self._samples(channel_id))[-1]
            self.p.remember(last)
        for column in derived:
            self.p.remember(column[-1])
        # Each record's samples, the corrected and flagged in their place, then its derived ones.
        samples = self.samples
        if self.out:
            samples = list(samples)
            for c, column in self.out.items():
                samples[self.position[c] :: self.width] = column
        result: list[Sample] = []
        w = self.width
        for r, derived_samples in enumerate(zip(*derived, strict=True)):
            result += samples[r * w : (r + 1) * w]
            result += derived_samples
        return result if derived else list(samples)

    # --- calibration -------------------------------------------------------------------------

    def _correct(self, channel_id: str) -> None:
        cal = self.p.calibrations[channel_id]
        cert = cal.certificate
        before = self._samples(channel_id)
        raw = np.fromiter((s.raw_value for s in before), np.float64, self.count)
        good = ~np.isnan(raw) & np.array([s.quality is Quality.GOOD for s in before], bool)
        probe_t: FloatArray | None = None
        if cert.rows is not None:
            probe = cal.probe_temperature_channel or ""
            if probe in self.position:
                probe_t = self._column(probe).value
            else:
                latest = self.p.latest_value(probe)
                probe_t = np.full(self.count, math.nan if latest is None else latest)
            probe_t = probe_t[good]
        c = correct(cert, raw[good], probe_t)
        corrected = c.corrected.tolist()
        out_of_range = c.out_of_range.tolist()
        uncertainty = c.expanded_uncertainty.tolist()
        after: list[Sample] = []
        k = 0
        for s, is_good in zip(before, good.tolist(), strict=True):
            if not is_good:
                after.append(_with(s, calibration_version=cert.version))
                continue
            if out_of_range[k]:
                after.append(
                    _with(
                        s,
                        value=math.nan,
                        quality=Quality.CAL_OUT_OF_RANGE,
                        calibration_version=cert.version,
                    )
                )
            else:
                value = corrected[k]
                after.append(
                    _with(
                        s,
                        value=value,
                        quality=s.quality if not math.isnan(value) else Quality.INVALID,
                        calibration_version=cert.version,
                        uncertainty=uncertainty[k],
                    )
                )
            k += 1
        self.out[channel_id] = after
        self.remembered[channel_id] = after
        self.columns.pop(channel_id, None)

    # --- derived channels ----------------------------------------------------------------

    def _input(self, channel_id: str | None, max_age_s: float) -> _Input | None:
        if channel_id is None:
            return None
        limit_us = max_age_s * 1e6
        if channel_id in self.position:
            column = self._column(channel_id)
            fresh = np.abs(self.now_us - column.timestamp_us) <= limit_us
            quality: list[Quality | None] = [
                q if ok else None for q, ok in zip(column.quality, fresh.tolist(), strict=True)
            ]
            return _Input(column.value, quality, column.uncertainty, column.has_uncertainty)
        latest = self.p.latest(channel_id)
        n = self.count
        if latest is None:
            return _Input(np.full(n, math.nan), [None] * n, np.full(n, math.nan), np.zeros(n, bool))
        fresh = (np.abs(self.now_us - latest.timestamp_us) <= limit_us).tolist()
        has_u = latest.uncertainty is not None
        return _Input(
            np.full(n, latest.value),
            [latest.quality if ok else None for ok in fresh],
            np.full(n, latest.uncertainty if has_u else math.nan),
            np.full(n, has_u),
        )

    def _derive(self, spec: DerivedSpec) -> list[Sample]:
        n = self.count
        t = self._input(spec.temperature_channel, spec.max_input_age_s)
        rh = self._input(spec.rh_channel, spec.max_input_age_s)
        assert t is not None and rh is not None
        if spec.pressure_channel is not None:
            p = self._input(spec.pressure_channel, spec.max_input_age_s)
            assert p is not None
            pressure_good = np.array([q is Quality.GOOD for q in p.quality], bool)
            pressure: FloatArray = np.where(pressure_good, p.value, math.nan)
        else:
            pressure = np.full(n, spec.pressure_hpa)
        usable = np.array(
            [a in _USABLE and b in _USABLE for a, b in zip(t.quality, rh.quality, strict=True)],
            bool,
        )
        candidate = usable & ~np.isnan(pressure)
        ok = np.zeros(n, bool)
        if candidate.any():
            ok[candidate] = humidity.valid_input_mask(
                t.value[candidate],
                rh.value[candidate],
                quantity=MASK_OF[spec.quantity],
                pressure_hpa=pressure[candidate],
                formulation=spec.formulation,
            )
        value = np.full(n, math.nan)
        uncertainty = np.full(n, math.nan)
        has_uncertainty = np.zeros(n, bool)
        supersaturated = np.zeros(n, bool)
        if ok.any():
            u_t, has_t = _uncertainty_or(t, spec.u_temperature_k)
            u_rh, has_rh = _uncertainty_or(rh, spec.u_rh_pct)
            has_u = has_t & has_rh

            def at(
                i: npt.NDArray[np.intp] | slice,
            ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
                return t.value[i], rh.value[i], pressure[i], u_t[i], u_rh[i], has_u[i]

            try:
                rows = np.flatnonzero(ok)
                found = _evaluate(spec, *at(rows))
                value[rows], uncertainty[rows], has_uncertainty[rows], supersaturated[rows] = found
            except humidity.HumidityRangeError:
                # An input the mask let through and a formulation refuses (RH over ice above
                # 0 °C): record by record, as ChamberProcessor does, that record is flagged.
                for r in np.flatnonzero(ok).tolist():
                    try:
                        found = _evaluate(spec, *at(slice(r, r + 1)))
                    except humidity.HumidityRangeError:
                        ok[r] = False
                        continue
                    value[r], uncertainty[r], has_uncertainty[r], supersaturated[r] = (
                        x[0] for x in found
                    )
        quality = np.where(
            ok,
            np.where(supersaturated, 2, 1),
            np.where(candidate, 3, 0),
        ).tolist()
        qualities = (Quality.MISSING, Quality.GOOD, Quality.SUPERSATURATED, Quality.OUT_OF_RANGE)
        inputs = (spec.temperature_channel, spec.rh_channel, spec.pressure_channel)
        own = all(c is None or c in self.position for c in inputs)
        method = spec.formulation.value
        values = value.tolist()
        uncertainties = uncertainty.tolist()
        with_uncertainty = has_uncertainty.tolist()
        column: list[Sample] = []
        for r, newest in enumerate(self.newest):
            logger_stamped = newest.time_source is not TimeSource.HOST
            v = values[r]
            column.append(  # by position: a download makes one per record and derived channel
                Sample(
                    newest.chamber_id,
                    spec.channel_id,
                    newest.timestamp_us,
                    v,
                    v,
                    qualities[quality[r]],
                    newest.time_source if logger_stamped else TimeSource.HOST,
                    newest.sequence if logger_stamped and own else None,
                    None,  # calibration_version
                    uncertainties[r] if with_uncertainty[r] else None,
                    method,
                    newest.clock_offset_us if logger_stamped else None,
                )
            )
        self._cross_check(spec, column)
        return column

    def _cross_check(self, spec: DerivedSpec, derived: list[Sample]) -> None:
        """Flag the device's own value where it disagrees with ours by more than the limit."""
        check = spec.check_channel
        if check is None or check not in self.position:
            return
        current = self.out.get(check) or self._samples(check)
        flagged = list(current)
        changed = False
        for r, (ours, theirs) in enumerate(zip(derived, current, strict=True)):
            if (
                ours.has_value
                and theirs.has_value
                and abs(theirs.value - ours.value) > (spec.check_limit)
            ):
                flagged[r] = _with(theirs, quality=Quality.INCONSISTENT)
                changed = True
        if changed:
            self.out[check] = flagged


def _evaluate(
    spec: DerivedSpec,
    t: FloatArray,
    rh: FloatArray,
    pressure: FloatArray,
    u_t: FloatArray,
    u_rh: FloatArray,
    has_u: BoolArray,
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """Value, uncertainty (where the inputs have one), whether it has one, and whether the air
    is supersaturated over ice, for inputs the mask admitted; raises HumidityRangeError."""
    value = derived_value(spec, t, rh, pressure)
    uncertainty = np.full(len(t), math.nan)
    has_uncertainty = np.zeros(len(t), bool)
    if has_u.any():
        u = derived_uncertainty(spec, t[has_u], rh[has_u], u_t[has_u], u_rh[has_u], pressure[has_u])
        if u is not None:
            uncertainty[has_u] = u
            has_uncertainty = has_u
    # Over ice (at or below 0 °C) more than 100 %RH: frost forming, or a wet probe.
    supersaturated = np.zeros(len(t), bool)
    cold = t <= 0.0
    if cold.any():
        over_ice = humidity.rh_over_ice_pct(t[cold], rh[cold], formulation=spec.formulation)
        supersaturated[cold] = over_ice > 100.0
    return value, uncertainty, has_uncertainty, supersaturated


def _column_of(samples: Sequence[Sample] | None) -> _Column:
    samples = samples or []
    n = len(samples)
    uncertainties = [s.uncertainty for s in samples]
    has_u = np.array([u is not None for u in uncertainties], bool)
    return _Column(
        np.fromiter((s.value for s in samples), np.float64, n),
        [s.quality for s in samples],
        np.fromiter((s.timestamp_us for s in samples), np.int64, n),
        np.array([math.nan if u is None else u for u in uncertainties], np.float64),
        has_u,
    )


def _uncertainty_or(i: _Input, default: float | None) -> tuple[FloatArray, BoolArray]:
    """An input's uncertainty, or the spec's default where the sample carries none."""
    if default is None:
        return i.uncertainty, i.has_uncertainty
    return np.where(i.has_uncertainty, i.uncertainty, default), np.ones(len(i.value), bool)


def _with(s: Sample, **changes: object) -> Sample:
    fields = {
        "chamber_id": s.chamber_id,
        "channel_id": s.channel_id,
        "timestamp_us": s.timestamp_us,
        "value": s.value,
        "raw_value": s.raw_value,
        "quality": s.quality,
        "time_source": s.time_source,
        "sequence": s.sequence,
        "calibration_version": s.calibration_version,
        "uncertainty": s.uncertainty,
        "method": s.method,
        "clock_offset_us": s.clock_offset_us,
    }
    fields.update(changes)
    return Sample(**fields)  # type: ignore[arg-type]

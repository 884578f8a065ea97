"""A run judged segment by segment against its profile: what a chamber test report states.

For each segment and each quantity it sets:
- a soak: when the chamber stabilised (within tolerance, trailing slope under the limit), the
  evaluation window after it by the chosen standard's schedule, that family's statistics, and a
  verdict per figure against the tolerance by a stated decision rule;
- a ramp: the rates over the 10-90 % span beside the rate the profile asks, and how far the
  centre point strayed from the setpoint line, judged against the tolerance.

The uncertainty of the chamber condition follows IEC 60068-3-11: the measurement's own
(calibration, resolution) combined with the chamber's spatial and temporal spread, each a
rectangular distribution; verdicts use the measurement's uncertainty alone, because the
spread is what is being judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from loggerd.chamber.decision import Decision, Rule, decide
from loggerd.chamber.stabilisation import RampRate, Stabilisation, ramp_rate, stabilisation
from loggerd.chamber.statistics import ChamberStatistics, Family, evaluate
from loggerd.chamber.windows import SCHEDULES, Schedule, sample_window
from loggerd.core.profiles import Profile, Quantity

# Slope under which a quantity counts as stable (per hour, over a trailing hour). Temperature:
# DO-160 / MIL-STD-810's 2 K/h. The humidity figures are loggerd's defaults, stated in reports.
SLOPE_LIMITS_PER_H: dict[Quantity, float] = {
    "temperature_c": 2.0,
    "rh_pct": 2.0,
    "frost_point_c": 2.0,
    "ppmv": 5.0,
}
STABILISATION_TRAILING_S = 3600.0
_VERDICT_ORDER = ("pass", "conditional pass", "conditional fail", "fail")


@dataclass(frozen=True)
class QuantitySeries:
    """One quantity of a chamber on a common time grid: rows instants, columns points."""

    times_s: npt.NDArray[np.float64]  # seconds from the run's start
    values: npt.NDArray[np.float64]
    points: tuple[str, ...]  # channel ids, in column order
    centre: int = 0
    measurement_u: float = 0.0  # expanded (k = 2) uncertainty of one value: calibration
    resolution: float = 0.01  # the logger's resolution for this quantity


@dataclass(frozen=True)
class Uncertainty:
    """IEC 60068-3-11 budget of a chamber condition, standard uncertainties and U (k = 2)."""

    calibration: float
    resolution: float
    spatial: float
    temporal: float
    measurement_u: float  # calibration and resolution, k = 2: what verdicts use
    condition_u: float  # all four, k = 2: what the chamber condition is known to


def uncertainty(series: QuantitySeries, stats: ChamberStatistics) -> Uncertainty:
    cal = series.measurement_u / 2
    res = series.resolution / math.sqrt(12)
    spatial = (stats.gradient or 0.0) / math.sqrt(12)  # a spread of `gradient`, rectangular
    temporal = (stats.fluctuation or 0.0) / math.sqrt(3)  # ± fluctuation, rectangular
    return Uncertainty(
        cal,
        res,
        spatial,
        temporal,
        2 * math.hypot(cal, res),
        2 * math.sqrt(cal**2 + res**2 + spatial**2 + temporal**2),
    )


@dataclass(frozen=True)
class SoakResult:
    quantity: Quantity
    setpoint: float
    tolerance: float
    stabilisation: Stabilisation
    schedule: Schedule
    readings_scheduled: int  # those of the schedule that fit in the segment after stabilising
    statistics: ChamberStatistics | None  # None: never stable, or no window fits
    uncertainty: Uncertainty | None
    decisions: dict[str, Decision] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.statistics is None:
            return "fail" if self.stabilisation.index is None else "not evaluated"
        return _worst(d.verdict for d in self.decisions.values())


@dataclass(frozen=True)
class RampResult:
    quantity: Quantity
    start: float
    setpoint: float
    tolerance: float
    required_rate_per_min: float
    rate: RampRate
    tracking_error_max: float | None  # largest |centre - setpoint line| during the ramp
    decision: Decision | None

    @property
    def verdict(self) -> str:
        return "not evaluated" if self.decision is None else self.decision.verdict


@dataclass(frozen=True)
class SegmentResult:
    index: int
    kind: str
    name: str
    start_s: float
    end_s: float
    results: tuple[SoakResult | RampResult, ...]

    @property
    def verdict(self) -> str:
        return _worst(r.verdict for r in self.results)


@dataclass(frozen=True)
class RunAssessment:
    family: Family
    rule: Rule
    segments: tuple[SegmentResult, ...]

    @property
    def verdict(self) -> str:
        return _worst(s.verdict for s in self.segments)


def assess(
    profile: Profile,
    series: dict[Quantity, QuantitySeries],
    family: Family = "gb_t_5170",
    rule: Rule = "guarded",
    schedule: Schedule | None = None,
) -> RunAssessment:
    """Every segment of `profile` against `series` (times in seconds from the run's start)."""
    schedule = schedule or SCHEDULES[family]
    out = []
    starts = profile.starts_s()
    for i, (start, seg) in enumerate(zip(starts, profile.segments, strict=True)):
        end = start + seg.duration_s
        results: list[SoakResult | RampResult] = []
        for target in seg.targets:
            s = series.get(target.quantity)
            if s is None:
                continue  # nothing measures it: the report says so from the channel list
            inside = (s.times_s >= start) & (s.times_s < end)
            t, x = s.times_s[inside], s.values[inside]
            if seg.kind == "soak":
                results.append(
                    _soak(s, t, x, target.quantity, target.setpoint, target.tolerance,
                          family, rule, schedule, start, end)
                )  # fmt: skip
            else:
                before = profile.ramp_start(target.quantity, i)
                assert before is not None  # a parsed profile's ramp has a start
                results.append(
                    _ramp(s, t, x, target.quantity, before, target.setpoint, target.tolerance,
                          seg.duration_s, profile, start, rule)
                )  # fmt: skip
        out.append(SegmentResult(i, seg.kind, seg.name, start, end, tuple(results)))
    return RunAssessment(family, rule, tuple(out))


def _soak(
    s: QuantitySeries,
    t: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    quantity: Quantity,
    setpoint: float,
    tolerance: float,
    family: Family,
    rule: Rule,
    schedule: Schedule,
    start_s: float,
    end_s: float,
) -> SoakResult:
    # The slope is judged over the trailing hour (DO-160), or over half a segment shorter
    # than two hours, so that a short soak can be judged at all; the report states which.
    trailing_s = min(STABILISATION_TRAILING_S, (end_s - start_s) / 2)
    limit = SLOPE_LIMITS_PER_H[quantity]
    stable = (
        stabilisation(t, x, setpoint, tolerance, limit, trailing_s)
        if t.size
        else Stabilisation(None, None, tolerance, limit, trailing_s)
    )
    if stable.time_s is None:
        return SoakResult(quantity, setpoint, tolerance, stable, schedule, 0, None, None)
    fit = int((end_s - stable.time_s) // schedule.interval_s)
    readings = min(schedule.readings, max(fit, 0))
    if readings < 2:
        return SoakResult(quantity, setpoint, tolerance, stable, schedule, readings, None, None)
    plan = Schedule(schedule.interval_s, readings, schedule.basis)
    step = float(np.median(np.diff(t))) if t.size > 1 else schedule.interval_s
    window = sample_window(t, x, stable.time_s, plan, min(step, schedule.interval_s / 2.01))
    stats = evaluate(window.values, setpoint, family=family, centre=s.centre)
    u = uncertainty(s, stats)
    return SoakResult(
        quantity, setpoint, tolerance, stable, plan, readings, stats, u,
        _decisions(stats, tolerance, u.measurement_u, rule),
    )  # fmt: skip


def _decisions(
    stats: ChamberStatistics, tolerance: float, u: float, rule: Rule
) -> dict[str, Decision]:
    """The figures a tolerance of ± `tolerance` bounds: the setpoint's deviation (or the
    extremes' deviations) within ±tolerance, and the fluctuation within it."""
    out = {}
    if stats.deviation is not None:
        out["deviation"] = decide(stats.deviation, -tolerance, tolerance, u, rule)
    if stats.deviation_max is not None:
        out["deviation_max"] = decide(stats.deviation_max, None, tolerance, u, rule)
    if stats.deviation_min is not None:
        out["deviation_min"] = decide(stats.deviation_min, -tolerance, None, u, rule)
    if stats.fluctuation is not None:
        out["fluctuation"] = decide(stats.fluctuation, None, tolerance, u, rule)
    return out


def _ramp(
    s: QuantitySeries,
    t: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    quantity: Quantity,
    start_value: float,
    setpoint: float,
    tolerance: float,
    duration_s: float,
    profile: Profile,
    seg_start_s: float,
    rule: Rule,
) -> RampResult:
    required = (setpoint - start_value) / duration_s * 60
    centre = x[:, s.centre] if x.size else np.empty(0)
    if start_value == setpoint or centre.size == 0:
        rate = RampRate(start_value, setpoint, None, None, None, None, None, 0, 300.0)
    else:
        rate = ramp_rate(t, centre, start_value, setpoint)
    line = np.array([profile.setpoint_at(quantity, ti) for ti in t], dtype=np.float64)
    error = np.abs(centre - line)
    error = error[~np.isnan(error)]
    worst = float(error.max()) if error.size else None
    decision = None if worst is None else decide(worst, None, tolerance, s.measurement_u, rule)
    return RampResult(quantity, start_value, setpoint, tolerance, required, rate, worst, decision)


def _worst(verdicts: Iterable[str]) -> str:
    """The worst verdict of several; "not evaluated" when none was reached."""
    known = [v for v in verdicts if v in _VERDICT_ORDER]
    return max(known, key=_VERDICT_ORDER.index) if known else "not evaluated"

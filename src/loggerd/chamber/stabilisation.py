"""When a chamber has settled at a condition, and how fast it got there.

Stabilisation follows DO-160 and MIL-STD-810: a temperature is stable when its rate of change
is no more than a limit (2 K/h) — here, the least-squares slope over a trailing window (an hour)
at every measuring point — and, as a chamber test also needs, every point is within the
tolerance of the setpoint. The slope is fitted, not taken from two end points, so one noisy
reading does not decide it.

A ramp's rate is averaged over windows of at most 5 minutes (as IEC 60068-2-14 states rates of
change) and judged over the 10-90 % span of the change, which leaves out the start of the move
and the approach to the new setpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loggerd.chamber.arrays import Array, as_series


@dataclass(frozen=True)
class Stabilisation:
    """The first instant at which the condition held, or None; with the criteria used."""

    index: int | None  # row of the window
    time_s: float | None
    tolerance: float
    slope_limit_per_h: float
    trailing_s: float


def trailing_slopes(times_s: npt.ArrayLike, values: npt.ArrayLike, window_s: float) -> Array:
    """Least-squares slope per second of each column over the trailing `window_s` ending at
    each row (NaN samples left out); NaN where the window is not yet covered (the first row is
    less than `window_s` before) or holds fewer than two samples."""
    t, x = as_series(times_s, values)
    tc = (t - t[0])[:, None] if t.size else t[:, None]  # centred: sums stay well conditioned
    present = ~np.isnan(x)
    xs = np.where(present, x, 0.0)
    ts = np.where(present, tc, 0.0)

    def cum(a: Array) -> Array:
        return np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])

    n, st, sx = cum(present.astype(np.float64)), cum(ts), cum(xs)
    stt, stx = cum(ts * ts), cum(ts * xs)
    lo = np.searchsorted(t, t - window_s, side="left")
    hi = np.arange(1, t.size + 1)

    def window(c: Array) -> Array:
        return c[hi] - c[lo]

    wn, wt, wx, wtt, wtx = window(n), window(st), window(sx), window(stt), window(stx)
    denominator = wn * wtt - wt * wt
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (wn * wtx - wt * wx) / denominator
    covered = (t - t[0] >= window_s)[:, None] if t.size else np.zeros((0, 1), bool)
    ok = covered & (wn >= 2) & (denominator > 0)
    return np.where(ok, slope, np.nan)


def stabilisation(
    times_s: npt.ArrayLike,
    values: npt.ArrayLike,
    setpoint: float,
    tolerance: float,
    slope_limit_per_h: float = 2.0,
    trailing_s: float = 3600.0,
) -> Stabilisation:
    """The first row at which every measuring point has a sample within ±tolerance of the
    setpoint and a trailing slope no steeper than the limit."""
    t, x = as_series(times_s, values)
    slopes_per_h = trailing_slopes(t, x, trailing_s) * 3600.0
    with np.errstate(invalid="ignore"):
        within = np.abs(x - setpoint) <= tolerance  # NaN: False
        flat = np.abs(slopes_per_h) <= slope_limit_per_h  # NaN: False
    rows = np.flatnonzero((within & flat).all(axis=1))
    first = int(rows[0]) if rows.size else None
    return Stabilisation(
        first,
        None if first is None else float(t[first]),
        tolerance,
        slope_limit_per_h,
        trailing_s,
    )


@dataclass(frozen=True)
class RampRate:
    """A ramp's rates in units per minute, over the 10-90 % span of the change."""

    start: float
    target: float
    t10_s: float | None  # when 10 % of the change was first reached
    t90_s: float | None
    span_rate_per_min: float | None  # (x90 - x10) / (t90 - t10)
    max_rate_per_min: float | None  # steepest window (signed as the ramp)
    mean_rate_per_min: float | None  # mean of the windows
    windows: int
    window_s: float


def ramp_rate(
    times_s: npt.ArrayLike,
    series: npt.ArrayLike,
    start: float,
    target: float,
    window_s: float = 300.0,
) -> RampRate:
    """The rates of one series (a point, or the mean across points) ramping from `start` to
    `target`: slopes over trailing `window_s` windows lying wholly inside the 10-90 % span."""
    if start == target:
        raise ValueError("a ramp needs a target different from its start")
    t = np.asarray(times_s, dtype=np.float64)
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or x.shape != t.shape:
        raise ValueError(f"times ({t.shape}) and series ({x.shape}) must be 1-D and alike")
    fraction = (x - start) / (target - start)  # 0 at start, 1 at target
    with np.errstate(invalid="ignore"):
        i10 = _first(fraction >= 0.1)
        i90 = _first(fraction >= 0.9)
    t10 = None if i10 is None else _crossing(t, fraction, i10, 0.1)
    t90 = None if i90 is None else _crossing(t, fraction, i90, 0.9)
    if i10 is None or i90 is None or t10 is None or t90 is None or i90 <= i10:
        return RampRate(start, target, t10, t90, None, None, None, 0, window_s)
    x10 = start + 0.1 * (target - start)
    x90 = start + 0.9 * (target - start)
    span = (x90 - x10) / (t90 - t10) * 60.0
    span_t, span_x = t[i10 : i90 + 1], x[i10 : i90 + 1]
    slopes = trailing_slopes(span_t, span_x, window_s)[:, 0] * 60.0
    slopes = slopes[~np.isnan(slopes)]
    if slopes.size == 0:
        return RampRate(start, target, t10, t90, span, None, None, 0, window_s)
    direction = np.sign(target - start)
    steepest = float(slopes[np.argmax(slopes * direction)])
    return RampRate(
        start, target, t10, t90, span, steepest, float(slopes.mean()), int(slopes.size), window_s
    )


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _crossing(t: Array, fraction: Array, i: int, level: float) -> float:
    """When the series crossed `level` of the change, between rows i-1 and i (linear)."""
    if i == 0 or np.isnan(fraction[i - 1]):
        return float(t[i])
    f0, f1 = fraction[i - 1], fraction[i]
    return float(t[i - 1] + (level - f0) / (f1 - f0) * (t[i] - t[i - 1]))

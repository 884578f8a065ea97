"""Dew point, frost point and Td/f: exact inversions of the saturation curves, and back to RH."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from loggerd.processing.humidity._arrays import BoolArray, FloatArray, vectorised
from loggerd.processing.humidity._calls import AirCall, TdFCall
from loggerd.processing.humidity.formulations import (
    _CURVES,
    KELVIN_OFFSET_K,
    Formulation,
    FormulationLike,
    _Curve,
    _ln_pressure_at_c,
    _range_text,
    _resolve,
)
from loggerd.processing.humidity.ranges import (
    _RANGE_SLACK_K,
    HumidityRangeError,
    _check_temperature,
)
from loggerd.processing.humidity.saturation import _ln_vapour_pressure, _saturation_pa

# Newton on ln e converges quadratically (3-5 steps); the bisection safeguard and the step cap
# only guard against a formulation whose curvature would send a Newton step out of range.
_NEWTON_TOLERANCE_K: Final = 1e-9
_NEWTON_MAX_STEPS: Final = 100

# The logger's Td/f switches from frost point to dew point here (the reporting convention of
# chilled-mirror and capacitive hygrometers), not at the triple point where e_w = e_i.
_TD_F_SWITCH_C: Final = 0.0


def _ln_bounds(curve: _Curve) -> tuple[float, float]:
    return (
        _ln_pressure_at_c(curve, curve.min_c - _RANGE_SLACK_K),
        _ln_pressure_at_c(curve, curve.max_c + _RANGE_SLACK_K),
    )


def _invert(
    ln_e: FloatArray,
    curve: _Curve,
    what: str,
    temperature_c: FloatArray,
    rh_pct: FloatArray,
) -> FloatArray:
    """Temperature in °C at which the curve's saturation pressure equals exp(ln_e).

    `temperature_c` and `rh_pct` (same shape as `ln_e`) only serve to name an input whose
    result would fall outside the formulation's range.
    """
    ln_low, ln_high = _ln_bounds(curve)
    # Checked on the pressure, not on the result, so Newton never leaves the fitted range.
    below = ln_e < ln_low
    bad = below | (ln_e > ln_high)
    if np.any(bad):
        indices = np.flatnonzero(bad)
        first = int(indices[0])
        side, limit_c = ("below", curve.min_c) if below.flat[first] else ("above", curve.max_c)
        count = "" if bad.size == 1 else f" ({indices.size} of {bad.size} values)"
        raise HumidityRangeError(
            f"the {what} of air at {float(temperature_c.flat[first]):g} °C and "
            f"{float(rh_pct.flat[first]):g} %RH (vapour pressure "
            f"{math.exp(float(ln_e.flat[first])):.6g} Pa) lies {side} {limit_c:+g} °C, outside "
            f"the valid range of the {curve.name} ({_range_text(curve)}){count}"
        )
    finite = np.isfinite(ln_e)
    t_low_k = curve.min_c - _RANGE_SLACK_K + KELVIN_OFFSET_K
    t_high_k = curve.max_c + _RANGE_SLACK_K + KELVIN_OFFSET_K
    lo = np.full(ln_e.shape, t_low_k)
    hi = np.full(ln_e.shape, t_high_k)
    # First guess: Clausius-Clapeyron ln e = a - b/T through the ends of the range.
    b = (ln_high - ln_low) / (1.0 / t_low_k - 1.0 / t_high_k)
    a = ln_high + b / t_high_k
    t_k = np.where(finite, np.clip(b / (a - ln_e), t_low_k, t_high_k), np.nan)
    for _ in range(_NEWTON_MAX_STEPS):
        residual = curve.ln_pressure(t_k) - ln_e
        # ln e increases with T: a positive residual puts the root below t_k.
        hi = np.where(residual > 0.0, t_k, hi)
        lo = np.where(residual < 0.0, t_k, lo)
        new_t_k = t_k - residual / curve.d_ln_pressure_dt(t_k)
        # A Newton step that leaves the bracket is replaced by bisection (safeguarded Newton).
        escaped = finite & ~((new_t_k >= lo) & (new_t_k <= hi))
        new_t_k = np.where(escaped, 0.5 * (lo + hi), new_t_k)
        step = new_t_k - t_k
        t_k = new_t_k
        # NaN steps (missing inputs) compare false and do not hold up convergence.
        if not np.any(np.abs(step) > _NEWTON_TOLERANCE_K):
            return t_k - KELVIN_OFFSET_K
    raise ArithmeticError(f"{what}: Newton iteration on the {curve.name} did not converge")


def _td_f(
    ln_e: FloatArray, t: FloatArray, rh: FloatArray, water: _Curve, ice: _Curve
) -> tuple[FloatArray, BoolArray]:
    """The Td/f (frost point below 0 °C, else dew point) and where it is a frost point."""
    is_frost: BoolArray = ln_e < _ln_pressure_at_c(ice, _TD_F_SWITCH_C)
    is_dew = ~is_frost
    result = np.empty(ln_e.shape, dtype=np.float64)
    # A side with no value is skipped: a single value (a live reading) is on one side only.
    if is_frost.any():
        result[is_frost] = _invert(ln_e[is_frost], ice, "frost point", t[is_frost], rh[is_frost])
    if is_dew.any():
        result[is_dew] = _invert(ln_e[is_dew], water, "dew point", t[is_dew], rh[is_dew])
    return result, is_frost


@vectorised(AirCall)
def dew_point_c(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Dew point in °C: where saturation over (supercooled) water equals the vapour pressure.

    `rh_pct` is relative to liquid water at all temperatures (WMO). RH above 100 % is accepted
    (sensors at saturation read a little high) and gives a dew point above the air temperature.
    Exact inversion of the formulation's water curve, valid over that curve's range.
    """
    water, _ = _CURVES[_resolve(formulation)]
    ln_e, t, rh = _ln_vapour_pressure(temperature_c, rh_pct, water)
    return _invert(ln_e, water, "dew point", t, rh)


@vectorised(AirCall)
def frost_point_c(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Frost point in °C: where saturation over ice equals the vapour pressure.

    `rh_pct` is relative to liquid water (WMO), through the formulation's water curve; the
    frost point is the exact inversion of its ice curve. A frost point above the triple point
    (+0.01 °C) does not exist and raises `HumidityRangeError`; use `frost_dew_point_c`.
    """
    water, ice = _CURVES[_resolve(formulation)]
    ln_e, t, rh = _ln_vapour_pressure(temperature_c, rh_pct, water)
    return _invert(ln_e, ice, "frost point", t, rh)


@vectorised(AirCall)
def frost_dew_point_c(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """The Td/f a logger reports: the frost point when it is below 0 °C, else the dew point.

    Because e_i(0 °C) = 611.154 Pa < e_w(0 °C) = 611.213 Pa, the convention cannot represent
    vapour pressures between the two: their frost point is >= 0 °C and their dew point lies
    just below 0 °C (by at most 1.4 mK). They are reported as that dew point, which
    `rh_from_frost_point_pct` reads back as a frost point, 1e-4 of the RH low. Every other
    value round-trips exactly. (With hyland_wexler1983, whose water curve starts at 0 °C, that
    sliver raises `HumidityRangeError`.)
    """
    water, ice = _CURVES[_resolve(formulation)]
    ln_e, t, rh = _ln_vapour_pressure(temperature_c, rh_pct, water)
    result, _ = _td_f(ln_e, t, rh, water, ice)
    return result


@vectorised(TdFCall)
def rh_from_frost_point_pct(
    temperature_c: FloatArray,
    frost_point_c: FloatArray,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Relative humidity (w.r.t. water, %) from air temperature and a Td/f value.

    A value below 0 °C is a frost point (e = e_i), at or above 0 °C a dew point (e = e_w):
    the inverse of `frost_dew_point_c`, and of `frost_point_c` for frost points below 0 °C.
    """
    water, ice = _CURVES[_resolve(formulation)]
    td_f = frost_point_c
    e_w = _saturation_pa(temperature_c, water)
    is_frost = td_f < _TD_F_SWITCH_C
    _check_temperature(td_f[is_frost], ice)
    # NaN is neither frost nor dew point; it goes through the water branch and stays NaN.
    _check_temperature(td_f[~is_frost], water)
    ln_e = np.where(
        is_frost,
        ice.ln_pressure(td_f + KELVIN_OFFSET_K),
        water.ln_pressure(td_f + KELVIN_OFFSET_K),
    )
    return 100.0 * np.exp(ln_e) / e_w

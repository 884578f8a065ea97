"""The water-vapour enhancement factor of moist air: Greenspan (1976) in Hardy's ITS-90 form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from loggerd.processing.humidity._arrays import BoolArray, FloatArray, vectorised
from loggerd.processing.humidity._calls import EnhancementCall
from loggerd.processing.humidity.formulations import (
    _HARDY_ICE,
    _HARDY_WATER,
    KELVIN_OFFSET_K,
    Phase,
)
from loggerd.processing.humidity.ranges import HumidityRangeError, _describe, _temperature_bad

ENHANCEMENT_FACTOR_SOURCE: Final = (
    "Greenspan, L. (1976): Functional equations for the enhancement factors for CO2-free moist "
    "air. J. Res. Natl. Bur. Stand. 80A, 41-44; in the ITS-90 form (T in kelvin) of Hardy "
    "(1998): f = exp[alpha (1 - e_s/P) + beta (P/e_s - 1)], alpha = sum A_i T^i, "
    "beta = exp(sum B_i T^i), e_s from Hardy (1998)"
)


@dataclass(frozen=True)
class _EnhancementFit:
    name: str
    a: tuple[float, float, float, float]
    b: tuple[float, float, float, float]
    min_c: float
    max_c: float


# Hardy (1998) ITS-90 coefficients, T in kelvin, pressures in Pa. Checked here against
# Greenspan's original (IPTS-68, t in °C) coefficients, against CIPM-2007 at 20 °C and against
# Sonntag's (1994) and the WMO's enhancement factors (tests/processing/test_humidity.py).
_ENHANCEMENT_WATER: Final = _EnhancementFit(
    name="Greenspan (1976) / Hardy (1998) enhancement factor over water",
    a=(-1.6302041e-1, 1.8071570e-3, -6.7703064e-6, 8.5813609e-9),
    b=(-5.9890467e1, 3.4378043e-1, -7.7326396e-4, 6.3405286e-7),
    min_c=0.0,
    max_c=100.0,
)
_ENHANCEMENT_SUPERCOOLED: Final = _EnhancementFit(
    name="Greenspan (1976) / Hardy (1998) enhancement factor over water",
    a=(-5.5898101e-2, 6.7140389e-4, -2.7492721e-6, 3.8268958e-9),
    b=(-8.1985393e1, 5.8230823e-1, -1.6340527e-3, 1.6725084e-6),
    min_c=-50.0,
    max_c=0.0,
)
_ENHANCEMENT_ICE: Final = _EnhancementFit(
    name="Greenspan (1976) / Hardy (1998) enhancement factor over ice",
    a=(-6.0190570e-2, 7.3984060e-4, -3.0897838e-6, 4.3669918e-9),
    b=(-9.4868712e1, 7.2392075e-1, -2.1963437e-3, 2.4668279e-6),
    min_c=-100.0,
    max_c=0.0,
)
# loggerd's pressure bounds for the fits, not published ones. Below about 200 hPa the fitted
# alpha term, negative at low temperatures, makes f < 1 at -100 °C over ice, which is unphysical
# (f >= 1 wherever P > e_s); above, the cross-checks run here are at atmospheric pressure.
_MIN_PRESSURE_HPA: Final = 200.0
_MAX_PRESSURE_HPA: Final = 1100.0


def _enhancement_fits(over: object) -> tuple[_EnhancementFit, _EnhancementFit]:
    """The fits of a phase: (at or above 0 °C, below 0 °C)."""
    if over == "water":
        return _ENHANCEMENT_WATER, _ENHANCEMENT_SUPERCOOLED
    if over == "ice":
        return _ENHANCEMENT_ICE, _ENHANCEMENT_ICE
    raise ValueError(f"over must be 'water' or 'ice', got {over!r}")


def _enhancement_bad(
    temperature_c: FloatArray, pressure_hpa: FloatArray, over: Phase
) -> tuple[BoolArray, BoolArray, BoolArray]:
    """Masks of (temperature outside the fits, pressure outside loggerd's bounds, pressure not
    above the saturation vapour pressure), broadcast to one shape."""
    warm, cold = _enhancement_fits(over)
    t, p = np.broadcast_arrays(temperature_c, pressure_hpa)
    t_bad = _temperature_bad(t, cold.min_c, warm.max_c)
    p_bad: BoolArray = (p < _MIN_PRESSURE_HPA) | (p > _MAX_PRESSURE_HPA)
    curve = _HARDY_ICE if over == "ice" else _HARDY_WATER
    with np.errstate(over="ignore", invalid="ignore"):
        e_s_hpa = np.exp(curve.ln_pressure(np.where(t_bad, np.nan, t) + KELVIN_OFFSET_K)) / 100.0
    not_above: BoolArray = ~t_bad & ~p_bad & (p <= e_s_hpa)
    return t_bad, p_bad, not_above


def _check_enhancement(temperature_c: FloatArray, pressure_hpa: FloatArray, over: Phase) -> None:
    warm, cold = _enhancement_fits(over)
    t_bad, p_bad, not_above = _enhancement_bad(temperature_c, pressure_hpa, over)
    t, p = np.broadcast_arrays(temperature_c, pressure_hpa)
    if np.any(t_bad):
        raise HumidityRangeError(
            f"temperature {_describe(t, t_bad, '°C')} is outside the valid range of the "
            f"{warm.name} ({cold.min_c:+g} °C to {warm.max_c:+g} °C)"
        )
    if np.any(p_bad):
        raise HumidityRangeError(
            f"pressure {_describe(p, p_bad, 'hPa')} is outside the range loggerd accepts for "
            f"the {warm.name} ({_MIN_PRESSURE_HPA:g} hPa to {_MAX_PRESSURE_HPA:g} hPa)"
        )
    if np.any(not_above):
        where = int(np.flatnonzero(not_above)[0])
        raise HumidityRangeError(
            f"pressure {_describe(p, not_above, 'hPa')} is not above the saturation vapour "
            f"pressure over {over} at {float(t.flat[where]):g} °C: no moist air exists there"
        )


def _poly(coefficients: tuple[float, ...], x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A polynomial with ascending coefficients and its derivative, at x."""
    value = np.zeros_like(x)
    slope = np.zeros_like(x)
    for c in reversed(coefficients):
        slope = slope * x + value
        value = value * x + c
    return value, slope


def _ln_enhancement(
    temperature_c: FloatArray, pressure_pa: FloatArray, over: Phase
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln f and its derivatives d ln f / dT (per K) and d ln f / dP (per Pa). No range checks."""
    warm, cold = _enhancement_fits(over)
    t, p = np.broadcast_arrays(temperature_c, pressure_pa)
    t_k = t + KELVIN_OFFSET_K
    curve = _HARDY_ICE if over == "ice" else _HARDY_WATER
    e_s = np.exp(curve.ln_pressure(t_k))
    dln_es = curve.d_ln_pressure_dt(t_k)
    cold_side = t < 0.0
    a_warm, da_warm = _poly(warm.a, t_k)
    a_cold, da_cold = _poly(cold.a, t_k)
    lnb_warm, dlnb_warm = _poly(warm.b, t_k)
    lnb_cold, dlnb_cold = _poly(cold.b, t_k)
    a = np.where(cold_side, a_cold, a_warm)
    da = np.where(cold_side, da_cold, da_warm)
    beta = np.exp(np.where(cold_side, lnb_cold, lnb_warm))
    dln_beta = np.where(cold_side, dlnb_cold, dlnb_warm)
    p_over_es = p / e_s
    ln_f = a * (1.0 - 1.0 / p_over_es) + beta * (p_over_es - 1.0)
    dln_f_dt = (
        da * (1.0 - 1.0 / p_over_es)
        - a * dln_es / p_over_es
        + beta * dln_beta * (p_over_es - 1.0)
        - beta * p_over_es * dln_es
    )
    dln_f_dp = a * e_s / p**2 + beta / e_s
    return ln_f, dln_f_dt, dln_f_dp


@vectorised(EnhancementCall)
def enhancement_factor(
    temperature_c: FloatArray,
    pressure_hpa: FloatArray,
    over: Phase = "water",
) -> FloatArray:
    """Water-vapour enhancement factor f of CO2-free moist air: e'_sat = f(T, P) e_sat(T).

    Greenspan (1976) in the ITS-90 form of Hardy (1998):
    f = exp[alpha (1 - e_s/P) + beta (P/e_s - 1)], alpha = A0 + A1 T + A2 T^2 + A3 T^3,
    ln beta = B0 + B1 T + B2 T^2 + B3 T^3, T in kelvin, e_s the Hardy (1998) saturation
    pressure whatever formulation the caller uses, so that f does not depend on the RH
    convention. Coefficient sets:
    over water -50 °C to 0 °C and 0 °C to +100 °C, over ice -100 °C to 0 °C (Hardy 1998).
    Pressure in hPa, above e_s and within loggerd's bounds of 200 hPa to 1100 hPa
    (below 200 hPa the fit gives an unphysical f < 1 at -100 °C; the cross-checks are at
    atmospheric pressure). About 1.004 at 20 °C and 1013.25 hPa, 1.0067 over ice at -70 °C.
    """
    _check_enhancement(temperature_c, pressure_hpa, over)
    ln_f, _, _ = _ln_enhancement(temperature_c, 100.0 * pressure_hpa, over)
    return np.exp(ln_f)

"""Saturation vapour pressure over water or ice, and RH over ice from RH over water."""

from __future__ import annotations

import math

import numpy as np

from loggerd.processing.humidity._arrays import FloatArray, vectorised
from loggerd.processing.humidity._calls import AirCall, SaturationCall
from loggerd.processing.humidity.formulations import (
    _CURVES,
    KELVIN_OFFSET_K,
    Formulation,
    FormulationLike,
    Phase,
    _Curve,
    _curve,
    _resolve,
)
from loggerd.processing.humidity.ranges import _check_rh, _check_temperature


def _saturation_pa(temperature_c: FloatArray, curve: _Curve) -> FloatArray:
    _check_temperature(temperature_c, curve)
    return np.exp(curve.ln_pressure(temperature_c + KELVIN_OFFSET_K))


def _ln_vapour_pressure(
    temperature_c: FloatArray, rh_pct: FloatArray, water: _Curve
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln(e / Pa) from air temperature and RH, with both inputs broadcast to its shape."""
    # WMO convention: RH is always with respect to liquid water, also below 0 °C.
    _check_temperature(temperature_c, water)
    _check_rh(rh_pct, allow_zero=False)
    t, rh = np.broadcast_arrays(temperature_c, rh_pct)
    ln_e = (np.log(rh) - math.log(100.0)) + water.ln_pressure(t + KELVIN_OFFSET_K)
    return ln_e, t, rh


@vectorised(SaturationCall)
def saturation_vapour_pressure_pa(
    temperature_c: FloatArray,
    over: Phase = "water",
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Saturation vapour pressure in Pa over a plane surface of pure water or ice.

    Valid ranges (outside, `HumidityRangeError`; NaN gives NaN):

    ================== =========================== ===========================
    formulation        water                       ice
    ================== =========================== ===========================
    hardy1998          -100 °C to +100 °C          -100 °C to +0.01 °C
    sonntag1990        -100 °C to +100 °C          -100 °C to +0.01 °C
    hyland_wexler1983  0 °C to +200 °C             -100 °C to +0.01 °C
    murphy_koop2005    123 K to 332 K              110 K to 273.16 K
    ================== =========================== ===========================

    Sources: see `FORMULATIONS` (Hardy 1998; Sonntag 1990; Hyland & Wexler 1983; Murphy &
    Koop 2005 eqs. 7 and 10). Below 0 °C "water" is supercooled water.
    """
    return _saturation_pa(temperature_c, _curve(formulation, over))


@vectorised(AirCall)
def rh_over_ice_pct(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Convert RH with respect to water into RH with respect to ice: RH * e_w(T) / e_i(T).

    Defined where both of the formulation's curves are (Hardy: -100 °C to +0.01 °C).
    """
    water, ice = _CURVES[_resolve(formulation)]
    _check_rh(rh_pct, allow_zero=True)
    ratio = _saturation_pa(temperature_c, water) / _saturation_pa(temperature_c, ice)
    return rh_pct * ratio

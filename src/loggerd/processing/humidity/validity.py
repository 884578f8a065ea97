"""Which inputs a quantity can be computed from, so that one bad value does not cost a batch."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from loggerd.processing.humidity._arrays import ArrayInput, BoolArray, FloatArray
from loggerd.processing.humidity.enhancement import _enhancement_bad, _ln_enhancement
from loggerd.processing.humidity.formulations import (
    _CURVES,
    KELVIN_OFFSET_K,
    Formulation,
    FormulationLike,
    Phase,
    _ln_pressure_at_c,
    _resolve,
)
from loggerd.processing.humidity.inversions import _TD_F_SWITCH_C, _ln_bounds, _td_f
from loggerd.processing.humidity.ranges import _temperature_bad

Quantity = Literal["dew_point", "frost_point", "frost_dew_point", "ppmv"]


def _to_array(value: float | ArrayInput) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


def valid_input_mask(
    temperature_c: float | ArrayInput,
    rh_pct: float | ArrayInput,
    *,
    quantity: Quantity = "frost_dew_point",
    pressure_hpa: float | ArrayInput = 1013.25,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> BoolArray:
    """True where `quantity` can be computed without `HumidityRangeError`.

    The daemon computes on the True elements and flags the others as out of range, instead of
    losing a whole batch to one bad value. NaN inputs count as valid: they give NaN.
    `quantity` is "dew_point", "frost_point", "frost_dew_point" (also what `frost_dew_point_c`
    and the uncertainty functions need) or "ppmv" (also mole fraction, mixing ratio and
    absolute humidity; uses `pressure_hpa`).
    """
    if quantity not in ("dew_point", "frost_point", "frost_dew_point", "ppmv"):
        raise ValueError(f"unknown quantity {quantity!r}")
    water, ice = _CURVES[_resolve(formulation)]
    p_in = pressure_hpa if quantity == "ppmv" else 1013.25
    t, rh, p = np.broadcast_arrays(_to_array(temperature_c), _to_array(rh_pct), _to_array(p_in))
    missing = np.isnan(t) | np.isnan(rh) | np.isnan(p)
    ok = ~missing & ~_temperature_bad(t, water.min_c, water.max_c) & (rh > 0.0)
    ln_e = np.full(t.shape, np.nan)
    ln_e[ok] = (np.log(rh[ok]) - math.log(100.0)) + water.ln_pressure(t[ok] + KELVIN_OFFSET_K)
    ice_low, ice_high = _ln_bounds(ice)
    water_low, water_high = _ln_bounds(water)
    frost_ok = (ln_e >= ice_low) & (ln_e <= ice_high)
    dew_ok = (ln_e >= water_low) & (ln_e <= water_high)
    is_frost = ln_e < _ln_pressure_at_c(ice, _TD_F_SWITCH_C)
    if quantity == "dew_point":
        result = dew_ok
    elif quantity == "frost_point":
        result = frost_ok
    else:
        result = np.where(is_frost, frost_ok, dew_ok)
    if quantity == "ppmv" and np.any(result):
        # The Td/f must also lie in the enhancement factor's range, below the pressure.
        td_f, frost = _td_f(ln_e[result], t[result], rh[result], water, ice)
        p_sel = p[result]
        fine = np.zeros(td_f.shape, dtype=np.bool_)
        ln_f = np.zeros(td_f.shape)
        phases: tuple[tuple[Phase, BoolArray], ...] = (("ice", frost), ("water", ~frost))
        for phase, where in phases:
            t_bad, p_bad, not_above = _enhancement_bad(td_f[where], p_sel[where], phase)
            idx = np.flatnonzero(where)[~(t_bad | p_bad | not_above)]
            fine[idx] = True
            ln_f[idx], _, _ = _ln_enhancement(td_f[idx], 100.0 * p_sel[idx], phase)
        fine &= np.exp(ln_e[result] + ln_f) < 100.0 * p_sel
        result[result] = fine
    mask: BoolArray = result | missing
    return mask

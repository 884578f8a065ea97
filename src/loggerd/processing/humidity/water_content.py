"""Water content of moist air: ppmv, mole fraction, mixing ratio and absolute humidity, with the
enhancement factor at the chamber pressure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from loggerd.processing.humidity._arrays import BoolArray, FloatArray, frozen, vectorised
from loggerd.processing.humidity._calls import WaterContentCall
from loggerd.processing.humidity.enhancement import _check_enhancement, _ln_enhancement
from loggerd.processing.humidity.formulations import (
    _CURVES,
    KELVIN_OFFSET_K,
    Formulation,
    FormulationLike,
    Phase,
    _resolve,
)
from loggerd.processing.humidity.inversions import _td_f
from loggerd.processing.humidity.ranges import HumidityRangeError, _describe
from loggerd.processing.humidity.saturation import _ln_vapour_pressure

# Gas constant: CODATA 2018 (exact since the 2019 SI, R = N_A k). Molar masses: CIPM-2007
# air-density equation (Picard et al. 2008, Metrologia 45, 149-155): dry air with 400 µmol/mol
# CO2, and water.
MOLAR_GAS_CONSTANT_J_PER_MOL_K: Final = 8.314462618
MOLAR_MASS_WATER_G_PER_MOL: Final = 18.01528
MOLAR_MASS_DRY_AIR_G_PER_MOL: Final = 28.96546
_EPSILON: Final = MOLAR_MASS_WATER_G_PER_MOL / MOLAR_MASS_DRY_AIR_G_PER_MOL

ABSOLUTE_HUMIDITY_MODEL: Final = (
    "rho_v = e' M_w / (R T): water vapour as an ideal gas at the air temperature, e' the "
    "partial pressure including the enhancement factor; M_w = 18.01528 g/mol, "
    "R = 8.314462618 J/(mol K)"
)

# The default pressure, 1013.25 hPa as callers see it.
_STANDARD_PRESSURE_HPA: Final = frozen(1013.25)


@dataclass(frozen=True)
class _WaterContent:
    """Everything derived quantities need, broadcast to one shape."""

    t: FloatArray  # air temperature, °C
    rh: FloatArray  # %RH over water
    p_pa: FloatArray  # total pressure
    e_eff_pa: FloatArray  # partial pressure in moist air, f * e
    td_f: FloatArray  # Td/f, °C
    is_frost: BoolArray
    dln_f_dtdf: FloatArray  # d ln f / d Td/f
    dln_f_dp: FloatArray  # d ln f / dP, per Pa


def _water_content(
    temperature_c: FloatArray, rh_pct: FloatArray, pressure_hpa: FloatArray, formulation: object
) -> _WaterContent:
    water, ice = _CURVES[_resolve(formulation)]
    ln_e, t, rh = _ln_vapour_pressure(temperature_c, rh_pct, water)
    td_f, is_frost = _td_f(ln_e, t, rh, water, ice)
    t, rh, td_f, is_frost, p = np.broadcast_arrays(t, rh, td_f, is_frost, pressure_hpa)
    ln_e = np.broadcast_to(ln_e, t.shape)
    p_pa = 100.0 * p
    ln_f = np.empty(t.shape)
    dln_f_dt = np.empty(t.shape)
    dln_f_dp = np.empty(t.shape)
    phases: tuple[tuple[Phase, BoolArray], ...] = (("ice", is_frost), ("water", ~is_frost))
    for phase, where in phases:
        _check_enhancement(td_f[where], p[where], phase)
        ln_f[where], dln_f_dt[where], dln_f_dp[where] = _ln_enhancement(
            td_f[where], p_pa[where], phase
        )
    e_eff_pa = np.exp(ln_e + ln_f)
    saturated = e_eff_pa >= p_pa
    if np.any(saturated):
        raise HumidityRangeError(
            f"the water vapour partial pressure ({float(e_eff_pa[saturated].flat[0]):.6g} Pa) "
            f"reaches the total pressure {_describe(p, saturated, 'hPa')}: no moist air exists "
            "there"
        )
    return _WaterContent(
        t=t,
        rh=rh,
        p_pa=p_pa,
        e_eff_pa=e_eff_pa,
        td_f=td_f,
        is_frost=is_frost,
        dln_f_dtdf=dln_f_dt,
        dln_f_dp=dln_f_dp,
    )


@vectorised(WaterContentCall)
def ppmv(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Water vapour by volume relative to the DRY gas, in ppm: 1e6 e' / (P - e')."""
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    return 1e6 * w.e_eff_pa / (w.p_pa - w.e_eff_pa)


@vectorised(WaterContentCall)
def mole_fraction_ppm(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Mole fraction of water vapour in the MOIST gas, in ppm (µmol/mol): 1e6 e' / P."""
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    return 1e6 * w.e_eff_pa / w.p_pa


@vectorised(WaterContentCall)
def mixing_ratio_g_per_kg(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Mass of water vapour per mass of dry air, g/kg: 1000 (M_w / M_a) e' / (P - e'), with
    M_w = 18.01528 g/mol, M_a = 28.96546 g/mol (CIPM-2007 dry air, 400 µmol/mol CO2) and the
    partial pressure e' (enhancement factor included) and valid range of `ppmv`.
    """
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    return 1000.0 * _EPSILON * w.e_eff_pa / (w.p_pa - w.e_eff_pa)


@vectorised(WaterContentCall)
def absolute_humidity_g_m3(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Mass of water vapour per volume of moist air, g/m³: e' M_w / (R T), an ideal gas at the
    air temperature (M_w = 18.01528 g/mol, R = 8.314462618 J/(mol K)); the pressure enters
    through the enhancement factor only. Partial pressure e' and valid range as in `ppmv`.
    """
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    t_k = w.t + KELVIN_OFFSET_K
    return w.e_eff_pa * MOLAR_MASS_WATER_G_PER_MOL / (MOLAR_GAS_CONSTANT_J_PER_MOL_K * t_k)

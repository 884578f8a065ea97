"""GUM first-order expanded uncertainty of the frost point, the Td/f and ppmv."""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

from loggerd.processing.humidity._arrays import BoolArray, FloatArray, frozen, vectorised
from loggerd.processing.humidity._calls import PpmvUncertaintyCall, TdFUncertaintyCall
from loggerd.processing.humidity.formulations import (
    _CURVES,
    KELVIN_OFFSET_K,
    Formulation,
    FormulationLike,
    _resolve,
)
from loggerd.processing.humidity.inversions import _invert, _td_f
from loggerd.processing.humidity.saturation import _ln_vapour_pressure
from loggerd.processing.humidity.water_content import _STANDARD_PRESSURE_HPA, _water_content

# The default pressure uncertainty, 0 hPa as callers see it.
_NO_UNCERTAINTY: Final = frozen(0.0)


def _standard(expanded: FloatArray, k: float, what: str) -> FloatArray:
    if not k > 0.0:
        raise ValueError(f"coverage factor for {what} must be > 0, got {k!r}")
    if np.any(expanded < 0.0):
        raise ValueError(f"uncertainty of {what} must be >= 0")
    return expanded / k


def _td_f_sensitivities(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    formulation: object,
    phase: Literal["ice", "td_f"],
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """(T_x, dT_x/dT, dT_x/dRH, is_frost) for the frost point or the Td/f, analytically.

    From ln e_x(T_x) = ln(RH/100) + ln e_w(T): dT_x/dT = L_w'(T) / L_x'(T_x) and
    dT_x/dRH = 1 / (RH L_x'(T_x)), with L' = d ln e / dT of the formulation's curves.
    """
    water, ice = _CURVES[_resolve(formulation)]
    ln_e, t, rh = _ln_vapour_pressure(temperature_c, rh_pct, water)
    if phase == "ice":
        t_x = _invert(ln_e, ice, "frost point", t, rh)
        is_frost = np.ones(t_x.shape, dtype=np.bool_)
    else:
        t_x, is_frost = _td_f(ln_e, t, rh, water, ice)
    t_x_k = t_x + KELVIN_OFFSET_K
    slope_x = np.where(is_frost, ice.d_ln_pressure_dt(t_x_k), water.d_ln_pressure_dt(t_x_k))
    d_dt = water.d_ln_pressure_dt(t + KELVIN_OFFSET_K) / slope_x
    d_drh = 1.0 / (rh * slope_x)
    return t_x, d_dt, d_drh, is_frost


def _combine(k: float, *terms: tuple[FloatArray, FloatArray]) -> FloatArray:
    if not k > 0.0:
        raise ValueError(f"coverage factor k must be > 0, got {k!r}")
    variance = sum((c * u) ** 2 for c, u in terms)
    result: FloatArray = k * np.sqrt(np.asarray(variance, dtype=np.float64))
    return result


@vectorised(TdFUncertaintyCall)
def frost_point_uncertainty_k(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    u_temperature_k: FloatArray,
    u_rh_pct: FloatArray,
    k: float = 2.0,
    *,
    k_temperature: float = 2.0,
    k_rh: float = 2.0,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Expanded uncertainty (K, at coverage factor `k`) of `frost_point_c`.

    GUM first order: u(T_f)^2 = (c_T u_T)^2 + (c_RH u_RH)^2, with the input uncertainties
    taken as uncorrelated. `u_temperature_k` and `u_rh_pct` are EXPANDED uncertainties at
    coverage factors `k_temperature` and `k_rh` (calibration certificates state k = 2), turned
    into standard uncertainties by dividing by them. Sensitivity coefficients are analytic:
    c_T = L_w'(T) / L_i'(T_f) and c_RH = 1 / (RH L_i'(T_f)), L' = d ln e / dT of the
    formulation's water and ice curves (tests check them against central differences). The
    uncertainty of the formulation itself is not included.
    """
    _, c_t, c_rh, _ = _td_f_sensitivities(temperature_c, rh_pct, formulation, "ice")
    u_t = _standard(u_temperature_k, k_temperature, "temperature")
    u_rh = _standard(u_rh_pct, k_rh, "relative humidity")
    return _combine(k, (c_t, u_t), (c_rh, u_rh))


@vectorised(TdFUncertaintyCall)
def frost_dew_point_uncertainty_k(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    u_temperature_k: FloatArray,
    u_rh_pct: FloatArray,
    k: float = 2.0,
    *,
    k_temperature: float = 2.0,
    k_rh: float = 2.0,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Expanded uncertainty (K, at `k`) of `frost_dew_point_c`, as `frost_point_uncertainty_k`
    but with the dew-point slope L_w'(T_d) where the Td/f is a dew point."""
    _, c_t, c_rh, _ = _td_f_sensitivities(temperature_c, rh_pct, formulation, "td_f")
    u_t = _standard(u_temperature_k, k_temperature, "temperature")
    u_rh = _standard(u_rh_pct, k_rh, "relative humidity")
    return _combine(k, (c_t, u_t), (c_rh, u_rh))


@vectorised(PpmvUncertaintyCall)
def ppmv_uncertainty(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    u_temperature_k: FloatArray,
    u_rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    k: float = 2.0,
    *,
    u_pressure_hpa: FloatArray = _NO_UNCERTAINTY,
    k_temperature: float = 2.0,
    k_rh: float = 2.0,
    k_pressure: float = 2.0,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Expanded uncertainty (ppm, at `k`) of `ppmv`, GUM first order, inputs uncorrelated.

    Input uncertainties are EXPANDED at their own coverage factors (`k_temperature`, `k_rh`,
    `k_pressure`). Sensitivity coefficients are analytic: with X = 1e6 e'/(P - e'),
    e' = f(T_x, P) RH/100 e_w(T) and T_x the Td/f,
    dX/dT = 1e6 P e' / (P - e')^2 [L_w'(T) + (d ln f/d T_x)(dT_x/dT)],
    dX/dRH = 1e6 P e' / (P - e')^2 [1/RH + (d ln f/d T_x)(dT_x/dRH)],
    dX/dP = 1e6 (P e' d ln f/dP - e') / (P - e')^2; tests check them against central
    differences of `ppmv`. The uncertainty of the formulations themselves is not included.
    """
    _, dtx_dt, dtx_drh, _ = _td_f_sensitivities(temperature_c, rh_pct, formulation, "td_f")
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    water, _ = _CURVES[_resolve(formulation)]
    p, e = w.p_pa, w.e_eff_pa
    scale = 1e6 * p * e / (p - e) ** 2
    c_t = scale * (water.d_ln_pressure_dt(w.t + KELVIN_OFFSET_K) + w.dln_f_dtdf * dtx_dt)
    c_rh = scale * (1.0 / w.rh + w.dln_f_dtdf * dtx_drh)
    c_p_per_hpa = 100.0 * 1e6 * (p * e * w.dln_f_dp - e) / (p - e) ** 2
    u_t = _standard(u_temperature_k, k_temperature, "temperature")
    u_rh = _standard(u_rh_pct, k_rh, "relative humidity")
    u_p = _standard(u_pressure_hpa, k_pressure, "pressure")
    return _combine(k, (c_t, u_t), (c_rh, u_rh), (c_p_per_hpa, u_p))

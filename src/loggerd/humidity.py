"""Saturation vapour pressure, dew point and frost point of moist air (Hardy 1998, ITS-90)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Final, Literal, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "HumidityRangeError",
    "Phase",
    "dew_point_c",
    "frost_dew_point_c",
    "frost_point_c",
    "rh_from_frost_point_pct",
    "rh_over_ice_pct",
    "saturation_vapour_pressure_pa",
]

FloatArray = npt.NDArray[np.float64]
ArrayInput = npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]]
Phase = Literal["water", "ice"]

KELVIN_OFFSET_K: Final = 273.15

# Newton on ln e converges quadratically from the Clausius-Clapeyron first guess (3-5 steps
# over the whole range); the cap only guards against an unforeseen non-convergence.
_NEWTON_TOLERANCE_K: Final = 1e-9
_NEWTON_MAX_STEPS: Final = 50


class HumidityRangeError(ValueError):
    """A value lies outside the range in which a humidity formulation is valid."""


@dataclass(frozen=True)
class _Formulation:
    """ln(e / Pa) = sum_j c_j T^(first_power + j) + log_coefficient ln T, with T in kelvin."""

    name: str
    coefficients: tuple[float, ...]
    first_power: int
    log_coefficient: float
    min_c: float
    max_c: float

    @property
    def range_text(self) -> str:
        return f"{self.min_c:+g} °C to {self.max_c:+g} °C"

    def ln_pressure(self, t_k: FloatArray) -> FloatArray:
        total = self.log_coefficient * np.log(t_k)
        for j, c in enumerate(self.coefficients):
            total = total + c * t_k ** float(self.first_power + j)
        return total

    def d_ln_pressure_dt(self, t_k: FloatArray) -> FloatArray:
        total = self.log_coefficient / t_k
        for j, c in enumerate(self.coefficients):
            power = self.first_power + j
            if power != 0:
                total = total + power * c * t_k ** float(power - 1)
        return total

    def ln_pressure_at_c(self, temperature_c: float) -> float:
        return float(self.ln_pressure(np.asarray(temperature_c + KELVIN_OFFSET_K)))


# Hardy, R. (1998): ITS-90 formulations for vapor pressure, frostpoint temperature, dewpoint
# temperature, and enhancement factors in the range -100 to +100 °C. Proc. 3rd Int. Symp. on
# Humidity & Moisture, NPL, Teddington, pp. 214-222. Online copies carry misprints, so these
# were checked against independent anchors: both give 611.657 Pa at the triple point, water
# gives 101 325 Pa at the ITS-90 steam point 99.974 °C, and ice agrees with Murphy & Koop
# (2005) within 0.32 % and with IAPWS (2011) sublimation within 0.22 % down to -100 °C.
# Water is Hardy's ITS-90 refit of Wexler (1976); its validity extends to -100 °C (supercooled),
# which is what relative humidity "with respect to water" below 0 °C needs.
_HARDY_WATER: Final = _Formulation(
    name="Hardy (1998) ITS-90 saturation vapour pressure over water",
    coefficients=(
        -2.8365744e3,
        -6.028076559e3,
        1.954263612e1,
        -2.737830188e-2,
        1.6261698e-5,
        7.0229056e-10,
        -1.8680009e-13,
    ),
    first_power=-2,
    log_coefficient=2.7150305,
    min_c=-100.0,
    max_c=100.0,
)
# Hardy's ITS-90 refit of Wexler (1977) for ice; the upper end is the triple point.
_HARDY_ICE: Final = _Formulation(
    name="Hardy (1998) ITS-90 saturation vapour pressure over ice",
    coefficients=(
        -5.8666426e3,
        2.232870244e1,
        1.39387003e-2,
        -3.4262402e-5,
        2.7040955e-8,
    ),
    first_power=-1,
    log_coefficient=6.7063522e-1,
    min_c=-100.0,
    max_c=0.01,
)
_FORMULATIONS: Final[dict[str, _Formulation]] = {"water": _HARDY_WATER, "ice": _HARDY_ICE}

# The logger's Td/f switches from frost point to dew point here (the reporting convention of
# chilled-mirror and capacitive hygrometers), not at the triple point where e_w = e_i.
_TD_F_SWITCH_C: Final = 0.0


def _to_array(value: float | ArrayInput) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


def _all_scalars(*values: object) -> bool:
    # numpy registers its scalar types as numbers.Real, so np.float32 counts as a scalar here.
    return all(isinstance(v, numbers.Real) and not isinstance(v, np.ndarray) for v in values)


def _out(value: FloatArray, *inputs: object) -> float | FloatArray:
    """Scalar in, scalar out; any array in, array out."""
    if _all_scalars(*inputs):
        return float(value)
    return value


def _describe(values: FloatArray, bad: npt.NDArray[np.bool_], unit: str) -> str:
    offending = np.atleast_1d(values)[np.atleast_1d(bad)]
    first = f"{float(offending[0]):g} {unit}"
    if values.ndim == 0 or values.size == 1:
        return first
    return f"{first} (first of {offending.size} of {values.size} values out of range)"


def _check_temperature(temperature_c: FloatArray, formulation: _Formulation) -> None:
    # NaN compares false and passes through: a missing reading stays missing, it is no error.
    bad = (temperature_c < formulation.min_c) | (temperature_c > formulation.max_c)
    if np.any(bad):
        raise HumidityRangeError(
            f"temperature {_describe(temperature_c, bad, '°C')} is outside the valid range of "
            f"the {formulation.name} ({formulation.range_text})"
        )


def _check_rh(rh_pct: FloatArray, *, allow_zero: bool) -> None:
    bad = rh_pct < 0.0 if allow_zero else rh_pct <= 0.0
    if np.any(bad):
        limit = ">= 0" if allow_zero else "> 0 (no dew or frost point exists for dry air)"
        raise HumidityRangeError(
            f"relative humidity {_describe(rh_pct, bad, '%RH')} is invalid: it must be {limit}"
        )


def _saturation_pa(temperature_c: FloatArray, formulation: _Formulation) -> FloatArray:
    _check_temperature(temperature_c, formulation)
    return np.exp(formulation.ln_pressure(temperature_c + KELVIN_OFFSET_K))


def _ln_vapour_pressure(
    temperature_c: FloatArray, rh_pct: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln(e / Pa) from air temperature and RH, with both inputs broadcast to its shape."""
    # WMO convention: RH is always with respect to liquid water, also below 0 °C.
    _check_temperature(temperature_c, _HARDY_WATER)
    _check_rh(rh_pct, allow_zero=False)
    t, rh = np.broadcast_arrays(temperature_c, rh_pct)
    ln_e = np.log(rh / 100.0) + _HARDY_WATER.ln_pressure(t + KELVIN_OFFSET_K)
    return ln_e, t, rh


def _invert(
    ln_e: FloatArray,
    formulation: _Formulation,
    what: str,
    temperature_c: FloatArray,
    rh_pct: FloatArray,
) -> FloatArray:
    """Temperature in °C at which the formulation's saturation pressure equals exp(ln_e).

    `temperature_c` and `rh_pct` (same shape as `ln_e`) only serve to name an input whose
    result would fall outside the formulation's range.
    """
    ln_low = formulation.ln_pressure_at_c(formulation.min_c)
    ln_high = formulation.ln_pressure_at_c(formulation.max_c)
    # Checked on the pressure, not on the result, so Newton never leaves the fitted range.
    below = ln_e < ln_low
    bad = below | (ln_e > ln_high)
    if np.any(bad):
        indices = np.flatnonzero(bad)
        first = int(indices[0])
        side, limit_c = (
            ("below", formulation.min_c) if below.flat[first] else ("above", formulation.max_c)
        )
        count = "" if bad.size == 1 else f" ({indices.size} of {bad.size} values)"
        raise HumidityRangeError(
            f"the {what} of air at {float(temperature_c.flat[first]):g} °C and "
            f"{float(rh_pct.flat[first]):g} %RH (vapour pressure "
            f"{math.exp(float(ln_e.flat[first])):.6g} Pa) lies {side} {limit_c:+g} °C, outside "
            f"the valid range of the {formulation.name} ({formulation.range_text}){count}"
        )
    # First guess: Clausius-Clapeyron ln e = a - b/T through the ends of the range. ln e is
    # increasing and concave in T, so Newton from there converges monotonically.
    t_low_k = formulation.min_c + KELVIN_OFFSET_K
    t_high_k = formulation.max_c + KELVIN_OFFSET_K
    b = (ln_high - ln_low) / (1.0 / t_low_k - 1.0 / t_high_k)
    a = ln_high + b / t_high_k
    t_k = b / (a - ln_e)
    for _ in range(_NEWTON_MAX_STEPS):
        step = (formulation.ln_pressure(t_k) - ln_e) / formulation.d_ln_pressure_dt(t_k)
        t_k = t_k - step
        # NaN steps (missing inputs) compare false and do not hold up convergence.
        if not np.any(np.abs(step) > _NEWTON_TOLERANCE_K):
            return t_k - KELVIN_OFFSET_K
    raise ArithmeticError(f"{what}: Newton iteration on the {formulation.name} did not converge")


@overload
def saturation_vapour_pressure_pa(temperature_c: float, over: Phase = "water") -> float: ...
@overload
def saturation_vapour_pressure_pa(
    temperature_c: ArrayInput, over: Phase = "water"
) -> FloatArray: ...
def saturation_vapour_pressure_pa(
    temperature_c: float | ArrayInput, over: Phase = "water"
) -> float | FloatArray:
    """Saturation vapour pressure in Pa over a plane surface of pure water or ice.

    Hardy (1998) ITS-90 formulation, valid from -100 °C to +100 °C over (supercooled) water
    and from -100 °C to +0.01 °C over ice; outside, `HumidityRangeError` is raised. NaN
    (a missing reading) gives NaN.
    """
    formulation = _FORMULATIONS.get(over)
    if formulation is None:
        raise ValueError(f"over must be 'water' or 'ice', got {over!r}")
    return _out(_saturation_pa(_to_array(temperature_c), formulation), temperature_c)


@overload
def dew_point_c(temperature_c: float, rh_pct: float) -> float: ...
@overload
def dew_point_c(temperature_c: ArrayInput, rh_pct: float | ArrayInput) -> FloatArray: ...
@overload
def dew_point_c(temperature_c: float, rh_pct: ArrayInput) -> FloatArray: ...
def dew_point_c(
    temperature_c: float | ArrayInput, rh_pct: float | ArrayInput
) -> float | FloatArray:
    """Dew point in °C: where saturation over (supercooled) water equals the vapour pressure.

    `rh_pct` is relative to liquid water at all temperatures (WMO). RH above 100 % is accepted
    (sensors at saturation read a little high) and gives a dew point above the air temperature.
    """
    ln_e, t, rh = _ln_vapour_pressure(_to_array(temperature_c), _to_array(rh_pct))
    result = _invert(ln_e, _HARDY_WATER, "dew point", t, rh)
    return _out(result, temperature_c, rh_pct)


@overload
def frost_point_c(temperature_c: float, rh_pct: float) -> float: ...
@overload
def frost_point_c(temperature_c: ArrayInput, rh_pct: float | ArrayInput) -> FloatArray: ...
@overload
def frost_point_c(temperature_c: float, rh_pct: ArrayInput) -> FloatArray: ...
def frost_point_c(
    temperature_c: float | ArrayInput, rh_pct: float | ArrayInput
) -> float | FloatArray:
    """Frost point in °C: where saturation over ice equals the vapour pressure.

    `rh_pct` is relative to liquid water (WMO). A frost point above the triple point
    (+0.01 °C) does not exist and raises `HumidityRangeError`; use `frost_dew_point_c`.
    """
    ln_e, t, rh = _ln_vapour_pressure(_to_array(temperature_c), _to_array(rh_pct))
    result = _invert(ln_e, _HARDY_ICE, "frost point", t, rh)
    return _out(result, temperature_c, rh_pct)


@overload
def frost_dew_point_c(temperature_c: float, rh_pct: float) -> float: ...
@overload
def frost_dew_point_c(temperature_c: ArrayInput, rh_pct: float | ArrayInput) -> FloatArray: ...
@overload
def frost_dew_point_c(temperature_c: float, rh_pct: ArrayInput) -> FloatArray: ...
def frost_dew_point_c(
    temperature_c: float | ArrayInput, rh_pct: float | ArrayInput
) -> float | FloatArray:
    """The Td/f a logger reports: the frost point when it is below 0 °C, else the dew point.

    Because e_i(0 °C) = 611.154 Pa < e_w(0 °C) = 611.213 Pa, the convention cannot represent
    vapour pressures between the two: their frost point is >= 0 °C and their dew point lies
    just below 0 °C (by at most 1.4 mK). They are reported as that dew point, which
    `rh_from_frost_point_pct` reads back as a frost point, 1e-4 of the RH low. Every other
    value round-trips exactly.
    """
    ln_e, t, rh = _ln_vapour_pressure(_to_array(temperature_c), _to_array(rh_pct))
    is_frost = ln_e < _HARDY_ICE.ln_pressure_at_c(_TD_F_SWITCH_C)
    is_dew = ~is_frost
    result = np.empty(ln_e.shape, dtype=np.float64)
    result[is_frost] = _invert(ln_e[is_frost], _HARDY_ICE, "frost point", t[is_frost], rh[is_frost])
    result[is_dew] = _invert(ln_e[is_dew], _HARDY_WATER, "dew point", t[is_dew], rh[is_dew])
    return _out(result, temperature_c, rh_pct)


@overload
def rh_from_frost_point_pct(temperature_c: float, frost_point_c: float) -> float: ...
@overload
def rh_from_frost_point_pct(
    temperature_c: ArrayInput, frost_point_c: float | ArrayInput
) -> FloatArray: ...
@overload
def rh_from_frost_point_pct(temperature_c: float, frost_point_c: ArrayInput) -> FloatArray: ...
def rh_from_frost_point_pct(
    temperature_c: float | ArrayInput, frost_point_c: float | ArrayInput
) -> float | FloatArray:
    """Relative humidity (w.r.t. water, %) from air temperature and a Td/f value.

    A value below 0 °C is a frost point (e = e_i), at or above 0 °C a dew point (e = e_w):
    the inverse of `frost_dew_point_c`, and of `frost_point_c` for frost points below 0 °C.
    """
    t = _to_array(temperature_c)
    td_f = _to_array(frost_point_c)
    e_w = _saturation_pa(t, _HARDY_WATER)
    is_frost = td_f < _TD_F_SWITCH_C
    _check_temperature(td_f[is_frost], _HARDY_ICE)
    # NaN is neither frost nor dew point; it goes through the water branch and stays NaN.
    _check_temperature(td_f[~is_frost], _HARDY_WATER)
    ln_e = np.where(
        is_frost,
        _HARDY_ICE.ln_pressure(td_f + KELVIN_OFFSET_K),
        _HARDY_WATER.ln_pressure(td_f + KELVIN_OFFSET_K),
    )
    return _out(100.0 * np.exp(ln_e) / e_w, temperature_c, frost_point_c)


@overload
def rh_over_ice_pct(temperature_c: float, rh_pct: float) -> float: ...
@overload
def rh_over_ice_pct(temperature_c: ArrayInput, rh_pct: float | ArrayInput) -> FloatArray: ...
@overload
def rh_over_ice_pct(temperature_c: float, rh_pct: ArrayInput) -> FloatArray: ...
def rh_over_ice_pct(
    temperature_c: float | ArrayInput, rh_pct: float | ArrayInput
) -> float | FloatArray:
    """Convert RH with respect to water into RH with respect to ice (-100 °C to +0.01 °C)."""
    t = _to_array(temperature_c)
    rh = _to_array(rh_pct)
    _check_rh(rh, allow_zero=True)
    ratio = _saturation_pa(t, _HARDY_WATER) / _saturation_pa(t, _HARDY_ICE)
    return _out(rh * ratio, temperature_c, rh_pct)

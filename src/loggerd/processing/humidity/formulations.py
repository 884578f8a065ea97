"""The named saturation-vapour-pressure formulations: their curves over water and ice, with
sources and valid ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, Protocol

import numpy as np

from loggerd.processing.humidity._arrays import FloatArray

Phase = Literal["water", "ice"]

KELVIN_OFFSET_K: Final = 273.15


class Formulation(StrEnum):
    """The saturation-vapour-pressure formulations available; the value is what gets recorded."""

    HARDY1998 = "hardy1998"
    SONNTAG1990 = "sonntag1990"
    HYLAND_WEXLER1983 = "hyland_wexler1983"
    MURPHY_KOOP2005 = "murphy_koop2005"


FormulationLike = (
    Formulation | Literal["hardy1998", "sonntag1990", "hyland_wexler1983", "murphy_koop2005"]
)


@dataclass(frozen=True)
class FormulationInfo:
    """What the daemon shows about a formulation: its name, source and valid ranges."""

    formulation: Formulation
    name: str
    citation: str
    water_range_c: tuple[float, float]
    ice_range_c: tuple[float, float]
    note: str


class _Curve(Protocol):
    """ln(e / Pa) of one phase as a function of T / K, with its valid range in °C."""

    @property
    def name(self) -> str: ...
    @property
    def min_c(self) -> float: ...
    @property
    def max_c(self) -> float: ...
    def ln_pressure(self, t_k: FloatArray) -> FloatArray: ...
    def d_ln_pressure_dt(self, t_k: FloatArray) -> FloatArray: ...


def _range_text(curve: _Curve) -> str:
    return f"{curve.min_c:+g} °C to {curve.max_c:+g} °C"


# Curves are frozen: each range bound and switch point is computed once.
_LN_PRESSURE_AT_C: dict[tuple[object, float], float] = {}


def _ln_pressure_at_c(curve: _Curve, temperature_c: float) -> float:
    key = (curve, temperature_c)
    value = _LN_PRESSURE_AT_C.get(key)
    if value is None:
        value = float(curve.ln_pressure(np.asarray(temperature_c + KELVIN_OFFSET_K)))
        _LN_PRESSURE_AT_C[key] = value
    return value


@dataclass(frozen=True)
class _PowerSeries:
    """ln(e / Pa) = sum_j c_j T^(first_power + j) + log_coefficient ln T, with T in kelvin."""

    name: str
    coefficients: tuple[float, ...]
    first_power: int
    log_coefficient: float
    min_c: float
    max_c: float

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


@dataclass(frozen=True)
class _MurphyKoopWater:
    """Murphy & Koop (2005) eq. 10: ln e = a0 - a1/T - a2 ln T + a3 T + tanh(b0 (T - b1)) g(T),
    g(T) = g0 - g1/T - g2 ln T + g3 T."""

    name: str
    min_c: float
    max_c: float

    def _g(self, t_k: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = 53.878 - 1331.22 / t_k - 9.44523 * np.log(t_k) + 0.014025 * t_k
        dg = 1331.22 / t_k**2 - 9.44523 / t_k + 0.014025
        return g, dg

    def ln_pressure(self, t_k: FloatArray) -> FloatArray:
        g, _ = self._g(t_k)
        base = 54.842763 - 6763.22 / t_k - 4.210 * np.log(t_k) + 0.000367 * t_k
        result: FloatArray = base + np.tanh(0.0415 * (t_k - 218.8)) * g
        return result

    def d_ln_pressure_dt(self, t_k: FloatArray) -> FloatArray:
        g, dg = self._g(t_k)
        th = np.tanh(0.0415 * (t_k - 218.8))
        base = 6763.22 / t_k**2 - 4.210 / t_k + 0.000367
        result: FloatArray = base + 0.0415 * (1.0 - th**2) * g + th * dg
        return result


# Hardy, R. (1998): ITS-90 formulations for vapor pressure, frostpoint temperature, dewpoint
# temperature, and enhancement factors in the range -100 to +100 °C. Proc. 3rd Int. Symp. on
# Humidity & Moisture, NPL, Teddington, pp. 214-222. Online copies carry misprints, so these
# were checked against independent anchors: both give 611.657 Pa at the triple point, water
# gives 101 325 Pa at the ITS-90 steam point 99.974 °C, and ice agrees with Murphy & Koop
# (2005) within 0.32 % and with IAPWS (2011) sublimation within 0.22 % down to -100 °C.
# Water is Hardy's ITS-90 refit of Wexler (1976); its validity extends to -100 °C (supercooled),
# which is what relative humidity "with respect to water" below 0 °C needs.
_HARDY_WATER: Final = _PowerSeries(
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
_HARDY_ICE: Final = _PowerSeries(
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


# Sonntag, D. (1990): Important new values of the physical constants of 1986, vapour pressure
# formulations based on the ITS-90, and psychrometer formulae. Z. Meteorol. 40(5), 340-344;
# repeated in Sonntag (1994), Meteorol. Z. 3, 51-66. Coefficients for e in Pa as transcribed in
# atmtools/arts aii/WaterVaporSatPressure.pro (which checked them against Sonntag 1994, Leiterer
# et al. 1997 and Helten et al. 1999), with its ranges 173.15-373.15 K (water, supercooled below
# 0 °C) and 173.15-273.16 K (ice).
_SONNTAG_WATER: Final = _PowerSeries(
    name="Sonntag (1990) saturation vapour pressure over water",
    coefficients=(-6096.9385, 21.2409642, -2.711193e-2, 1.673952e-5),
    first_power=-1,
    log_coefficient=2.433502,
    min_c=-100.0,
    max_c=100.0,
)
_SONNTAG_ICE: Final = _PowerSeries(
    name="Sonntag (1990) saturation vapour pressure over ice",
    coefficients=(-6024.5282, 29.32707, 1.0613868e-2, -1.3198825e-5),
    first_power=-1,
    log_coefficient=-0.49382577,
    min_c=-100.0,
    max_c=0.01,
)


# Hyland, R. W. & Wexler, A. (1983): Formulations for the thermodynamic properties of the
# saturated phases of H2O from 173.15 K to 473.15 K. ASHRAE Trans. 89(2A), 500-519; the
# equations of ASHRAE Handbook Fundamentals ch. 1 (checked here against its Table 3). Water is
# stated for 273.15-473.15 K only: Hyland-Wexler has no supercooled-water curve, so RH with
# respect to water below 0 °C is outside its range (ASHRAE takes saturation over ice there).
_HYLAND_WEXLER_WATER: Final = _PowerSeries(
    name="Hyland & Wexler (1983) saturation vapour pressure over water",
    coefficients=(-0.58002206e4, 0.13914993e1, -0.48640239e-1, 0.41764768e-4, -0.14452093e-7),
    first_power=-1,
    log_coefficient=0.65459673e1,
    min_c=0.0,
    max_c=200.0,
)
_HYLAND_WEXLER_ICE: Final = _PowerSeries(
    name="Hyland & Wexler (1983) saturation vapour pressure over ice",
    coefficients=(
        -0.56745359e4,
        0.63925247e1,
        -0.96778430e-2,
        0.62215701e-6,
        0.20747825e-8,
        -0.94840240e-12,
    ),
    first_power=-1,
    log_coefficient=0.41635019e1,
    min_c=-100.0,
    max_c=0.01,
)


# Murphy, D. M. & Koop, T. (2005): Review of the vapour pressures of ice and supercooled water
# for atmospheric applications. Q. J. R. Meteorol. Soc. 131, 1539-1565: eq. 7 (ice, T > 110 K)
# and eq. 10 (liquid water, 123 K < T < 332 K), checked against their Table C1.
_MURPHY_KOOP_WATER: Final = _MurphyKoopWater(
    name="Murphy & Koop (2005) saturation vapour pressure over water",
    min_c=123.0 - KELVIN_OFFSET_K,
    max_c=332.0 - KELVIN_OFFSET_K,
)
_MURPHY_KOOP_ICE: Final = _PowerSeries(
    name="Murphy & Koop (2005) saturation vapour pressure over ice",
    coefficients=(-5723.265, 9.550426, -0.00728332),
    first_power=-1,
    log_coefficient=3.53068,
    min_c=110.0 - KELVIN_OFFSET_K,
    max_c=0.01,
)


_CURVES: Final[dict[Formulation, tuple[_Curve, _Curve]]] = {
    Formulation.HARDY1998: (_HARDY_WATER, _HARDY_ICE),
    Formulation.SONNTAG1990: (_SONNTAG_WATER, _SONNTAG_ICE),
    Formulation.HYLAND_WEXLER1983: (_HYLAND_WEXLER_WATER, _HYLAND_WEXLER_ICE),
    Formulation.MURPHY_KOOP2005: (_MURPHY_KOOP_WATER, _MURPHY_KOOP_ICE),
}


def _info(formulation: Formulation, name: str, citation: str, note: str) -> FormulationInfo:
    water, ice = _CURVES[formulation]
    return FormulationInfo(
        formulation=formulation,
        name=name,
        citation=citation,
        water_range_c=(water.min_c, water.max_c),
        ice_range_c=(ice.min_c, ice.max_c),
        note=note,
    )


FORMULATIONS: Final[Mapping[Formulation, FormulationInfo]] = MappingProxyType(
    {
        Formulation.HARDY1998: _info(
            Formulation.HARDY1998,
            "Hardy (1998) ITS-90",
            "Hardy, R. (1998): ITS-90 formulations for vapor pressure, frostpoint temperature, "
            "dewpoint temperature, and enhancement factors in the range -100 to +100 C. Proc. "
            "3rd Int. Symp. on Humidity & Moisture, NPL, Teddington, pp. 214-222.",
            "ITS-90 refits of Wexler (1976, water) and Wexler (1977, ice); the default.",
        ),
        Formulation.SONNTAG1990: _info(
            Formulation.SONNTAG1990,
            "Sonntag (1990)",
            "Sonntag, D. (1990): Important new values of the physical constants of 1986, vapour "
            "pressure formulations based on the ITS-90, and psychrometer formulae. Z. Meteorol. "
            "40(5), 340-344.",
            "Widely used for radiosondes; water extrapolated below 0 °C.",
        ),
        Formulation.HYLAND_WEXLER1983: _info(
            Formulation.HYLAND_WEXLER1983,
            "Hyland & Wexler (1983)",
            "Hyland, R. W., Wexler, A. (1983): Formulations for the thermodynamic properties of "
            "the saturated phases of H2O from 173.15 K to 473.15 K. ASHRAE Trans. 89(2A), "
            "500-519.",
            "The ASHRAE equations. No supercooled-water curve: RH over water is only defined "
            "from 0 °C up.",
        ),
        Formulation.MURPHY_KOOP2005: _info(
            Formulation.MURPHY_KOOP2005,
            "Murphy & Koop (2005)",
            "Murphy, D. M., Koop, T. (2005): Review of the vapour pressures of ice and "
            "supercooled water for atmospheric applications. Q. J. R. Meteorol. Soc. 131, "
            "1539-1565, eqs. 7 and 10.",
            "Supercooled water from heat-capacity data; recommended for atmospheric work.",
        ),
    }
)


def describe_formulation(formulation: FormulationLike = Formulation.HARDY1998) -> FormulationInfo:
    """Name, citation and valid ranges of a formulation, for display beside derived values."""
    return FORMULATIONS[_resolve(formulation)]


def _resolve(formulation: object) -> Formulation:
    try:
        return Formulation(formulation if isinstance(formulation, str) else "")
    except ValueError:
        names = ", ".join(repr(f.value) for f in Formulation)
        raise ValueError(f"unknown formulation {formulation!r}; expected one of {names}") from None


def _curve(formulation: object, over: object) -> _Curve:
    water, ice = _CURVES[_resolve(formulation)]
    if over == "water":
        return water
    if over == "ice":
        return ice
    raise ValueError(f"over must be 'water' or 'ice', got {over!r}")

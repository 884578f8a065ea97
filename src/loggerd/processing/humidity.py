"""Humidity of moist air down to -100 °C from named vapour-pressure formulations.

Saturation pressure, dew and frost point, RH over ice, ppmv and the other water contents, and
their GUM uncertainty. RH is with respect to supercooled water at all temperatures (WMO), using
the chosen formulation's water curve: below -40 °C the published curves differ by several per
cent, so the formulation is a per-channel setting, recorded with each derived sample. Dew and
frost points are exact pure-phase inversions. Out-of-range inputs raise `HumidityRangeError`
(`valid_input_mask` predicts which); NaN is a missing reading and stays NaN. Scalars in give a
float out, any array in gives an array out.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "ABSOLUTE_HUMIDITY_MODEL",
    "ENHANCEMENT_FACTOR_SOURCE",
    "FORMULATIONS",
    "MOLAR_GAS_CONSTANT_J_PER_MOL_K",
    "MOLAR_MASS_DRY_AIR_G_PER_MOL",
    "MOLAR_MASS_WATER_G_PER_MOL",
    "BoolArray",
    "FloatArray",
    "Formulation",
    "FormulationInfo",
    "FormulationLike",
    "HumidityRangeError",
    "Phase",
    "Quantity",
    "absolute_humidity_g_m3",
    "describe_formulation",
    "dew_point_c",
    "enhancement_factor",
    "frost_dew_point_c",
    "frost_dew_point_uncertainty_k",
    "frost_point_c",
    "frost_point_uncertainty_k",
    "mixing_ratio_g_per_kg",
    "mole_fraction_ppm",
    "ppmv",
    "ppmv_uncertainty",
    "rh_from_frost_point_pct",
    "rh_over_ice_pct",
    "saturation_vapour_pressure_pa",
    "valid_input_mask",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayInput = npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]]
Phase = Literal["water", "ice"]
_Call = TypeVar("_Call")

KELVIN_OFFSET_K: Final = 273.15

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

# Newton on ln e converges quadratically (3-5 steps); the bisection safeguard and the step cap
# only guard against a formulation whose curvature would send a Newton step out of range.
_NEWTON_TOLERANCE_K: Final = 1e-9
_NEWTON_MAX_STEPS: Final = 100

# The logger's Td/f switches from frost point to dew point here (the reporting convention of
# chilled-mirror and capacitive hygrometers), not at the triple point where e_w = e_i.
_TD_F_SWITCH_C: Final = 0.0


class HumidityRangeError(ValueError):
    """A value lies outside the range in which a humidity formulation is valid."""


class Formulation(StrEnum):
    """The saturation-vapour-pressure formulations available; the value is what gets recorded."""

    HARDY1998 = "hardy1998"
    SONNTAG1990 = "sonntag1990"
    HYLAND_WEXLER1983 = "hyland_wexler1983"
    MURPHY_KOOP2005 = "murphy_koop2005"


FormulationLike = (
    Formulation | Literal["hardy1998", "sonntag1990", "hyland_wexler1983", "murphy_koop2005"]
)
Quantity = Literal["dew_point", "frost_point", "frost_dew_point", "ppmv"]


@dataclass(frozen=True)
class FormulationInfo:
    """What the daemon shows about a formulation: its name, source and valid ranges."""

    formulation: Formulation
    name: str
    citation: str
    water_range_c: tuple[float, float]
    ice_range_c: tuple[float, float]
    note: str


# --- saturation curves ----------------------------------------------------------------------


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


def _ln_pressure_at_c(curve: _Curve, temperature_c: float) -> float:
    return float(curve.ln_pressure(np.asarray(temperature_c + KELVIN_OFFSET_K)))


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


# --- enhancement factor ---------------------------------------------------------------------

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
# Sonntag's (1994) and the WMO's enhancement factors (tests/test_humidity.py).
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

# Conversions between kelvin and degrees Celsius leave float noise of ~1e-13 K on range ends
# (273.16 K - 273.15 K != 0.01): a temperature that close to an end counts as on it.
_RANGE_SLACK_K: Final = 1e-9


# --- scalars and arrays ---------------------------------------------------------------------


def _to_array(value: float | ArrayInput) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


def _is_scalar(value: object) -> bool:
    # numpy registers its scalar types as numbers.Real, so np.float32 counts as a scalar here.
    return isinstance(value, numbers.Real) and not isinstance(value, np.ndarray)


def _frozen(value: float) -> FloatArray:
    """A read-only 0-d array: the default of a vectorised input, shown to callers as a float."""
    array = np.array(value, dtype=np.float64)
    array.flags.writeable = False
    return array


def _is_vectorised(parameter: inspect.Parameter) -> bool:
    return parameter.annotation in ("FloatArray", FloatArray)


def _check_call(function: Callable[..., FloatArray], call: Callable[..., object]) -> None:
    """Fail at import unless `function` takes the parameters of its public `call` (names, kinds,
    no default it lacks) and is vectorised in exactly those that the call lets be arrays."""
    parameters = inspect.signature(function).parameters
    arrays: set[str] = set()
    for variant in typing.get_overloads(vars(call)["__call__"]):
        public = list(inspect.signature(variant).parameters.values())[1:]  # after self
        if [(p.name, p.kind) for p in public] != [(p.name, p.kind) for p in parameters.values()]:
            raise TypeError(f"{function.__name__} does not take the parameters of {call!r}")
        if any(p.default is not p.empty and parameters[p.name].default is p.empty for p in public):
            raise TypeError(f"{call!r} gives {function.__name__} a default it does not have")
        arrays |= {p.name for p in public if "ArrayInput" in str(p.annotation)}
    if arrays != {name for name, p in parameters.items() if _is_vectorised(p)}:
        raise TypeError(f"{function.__name__} is not vectorised in the inputs {call!r} names")


def _as_called(parameter: inspect.Parameter) -> inspect.Parameter:
    """A vectorised parameter as callers see it: a float or any array, its default a float."""
    if not _is_vectorised(parameter):
        return parameter
    default = parameter.default
    return parameter.replace(
        annotation="float | ArrayInput",
        default=default if default is parameter.empty else float(default),
    )


def _vectorise(function: Callable[..., FloatArray]) -> Callable[..., float | FloatArray]:
    signature = inspect.signature(function)
    inputs = [
        (None if parameter.kind is parameter.KEYWORD_ONLY else index, parameter.name)
        for index, parameter in enumerate(signature.parameters.values())
        if _is_vectorised(parameter)
    ]

    @functools.wraps(function)
    def vectorised_function(*args: object, **kwargs: object) -> float | FloatArray:
        values = list(args)
        scalars = True
        for index, name in inputs:
            # An input left out has its default, a scalar.
            if index is not None and index < len(values):
                scalars = scalars and _is_scalar(values[index])
                values[index] = np.asarray(values[index], dtype=np.float64)
            elif name in kwargs:
                scalars = scalars and _is_scalar(kwargs[name])
                kwargs[name] = np.asarray(kwargs[name], dtype=np.float64)
        result = function(*values, **kwargs)
        return float(result) if scalars else result

    # What help() and inspect show: the signature callers use, not the one on arrays.
    public = [_as_called(parameter) for parameter in signature.parameters.values()]
    vectorised_function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=public, return_annotation="float | FloatArray"
    )
    return vectorised_function


def _vectorised(call: Callable[..., _Call]) -> Callable[[Callable[..., FloatArray]], _Call]:
    """Give a function written on float64 arrays its public `call`, one of the Protocols below.

    Each parameter annotated `FloatArray` takes a float or any numeric array, converted with
    np.asarray; the result is a Python float when every such input given is a scalar, else the
    function's array. Range checks stay in the functions, in their order: it decides which
    error a call with several bad inputs raises.
    """

    # `call` is typed as a callable because mypy takes no Protocol where type[...] is expected.
    def decorate(function: Callable[..., FloatArray]) -> _Call:
        _check_call(function, call)
        return cast(_Call, _vectorise(function))

    return decorate


# The public calls of the vectorised functions, each written once: mypy checks callers against
# them, `_check_call` the functions. The last, plain `__call__` of each only makes its overloads
# known at run time (typing.get_overloads).


class _SaturationCall(Protocol):
    """saturation_vapour_pressure_pa"""

    @overload
    def __call__(
        self, temperature_c: float, over: Phase = ..., *, formulation: FormulationLike = ...
    ) -> float: ...
    @overload
    def __call__(
        self, temperature_c: ArrayInput, over: Phase = ..., *, formulation: FormulationLike = ...
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class _AirCall(Protocol):
    """dew_point_c, frost_point_c, frost_dew_point_c, rh_over_ice_pct"""

    @overload
    def __call__(
        self, temperature_c: float, rh_pct: float, *, formulation: FormulationLike = ...
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self, temperature_c: float, rh_pct: ArrayInput, *, formulation: FormulationLike = ...
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class _TdFCall(Protocol):
    """rh_from_frost_point_pct"""

    @overload
    def __call__(
        self, temperature_c: float, frost_point_c: float, *, formulation: FormulationLike = ...
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        frost_point_c: float | ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        frost_point_c: ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class _EnhancementCall(Protocol):
    """enhancement_factor"""

    @overload
    def __call__(self, temperature_c: float, pressure_hpa: float, over: Phase = ...) -> float: ...
    @overload
    def __call__(
        self, temperature_c: ArrayInput, pressure_hpa: float | ArrayInput, over: Phase = ...
    ) -> FloatArray: ...
    @overload
    def __call__(
        self, temperature_c: float, pressure_hpa: ArrayInput, over: Phase = ...
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class _WaterContentCall(Protocol):
    """ppmv, mole_fraction_ppm, mixing_ratio_g_per_kg, absolute_humidity_g_m3"""

    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        pressure_hpa: float = ...,
        *,
        formulation: FormulationLike = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        pressure_hpa: ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class _TdFUncertaintyCall(Protocol):
    """frost_point_uncertainty_k, frost_dew_point_uncertainty_k"""

    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float,
        u_rh_pct: float,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: ArrayInput,
        u_rh_pct: float | ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float,
        u_rh_pct: ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class _PpmvUncertaintyCall(Protocol):
    """ppmv_uncertainty"""

    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float,
        u_rh_pct: float,
        pressure_hpa: float = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float | ArrayInput = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float | ArrayInput = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    # Other array inputs with a scalar temperature and RH: not told apart (as before).
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float | ArrayInput = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> float | FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


def _describe(values: FloatArray, bad: BoolArray, unit: str) -> str:
    offending = np.atleast_1d(values)[np.atleast_1d(bad)]
    first = f"{float(offending[0]):g} {unit}"
    if values.ndim == 0 or values.size == 1:
        return first
    return f"{first} (first of {offending.size} of {values.size} values out of range)"


def _temperature_bad(temperature_c: FloatArray, lo_c: float, hi_c: float) -> BoolArray:
    # NaN compares false and passes through: a missing reading stays missing, it is no error.
    bad: BoolArray = (temperature_c < lo_c - _RANGE_SLACK_K) | (
        temperature_c > hi_c + _RANGE_SLACK_K
    )
    return bad


def _check_temperature(temperature_c: FloatArray, curve: _Curve) -> None:
    bad = _temperature_bad(temperature_c, curve.min_c, curve.max_c)
    if np.any(bad):
        raise HumidityRangeError(
            f"temperature {_describe(temperature_c, bad, '°C')} is outside the valid range of "
            f"the {curve.name} ({_range_text(curve)})"
        )


def _rh_bad(rh_pct: FloatArray, *, allow_zero: bool) -> BoolArray:
    bad: BoolArray = rh_pct < 0.0 if allow_zero else rh_pct <= 0.0
    return bad


def _check_rh(rh_pct: FloatArray, *, allow_zero: bool) -> None:
    bad = _rh_bad(rh_pct, allow_zero=allow_zero)
    if np.any(bad):
        limit = ">= 0" if allow_zero else "> 0 (no dew or frost point exists for dry air)"
        raise HumidityRangeError(
            f"relative humidity {_describe(rh_pct, bad, '%RH')} is invalid: it must be {limit}"
        )


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
    result[is_frost] = _invert(ln_e[is_frost], ice, "frost point", t[is_frost], rh[is_frost])
    result[is_dew] = _invert(ln_e[is_dew], water, "dew point", t[is_dew], rh[is_dew])
    return result, is_frost


# --- saturation vapour pressure, dew and frost point ----------------------------------------


@_vectorised(_SaturationCall)
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


@_vectorised(_AirCall)
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


@_vectorised(_AirCall)
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


@_vectorised(_AirCall)
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


@_vectorised(_TdFCall)
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
    result: FloatArray = 100.0 * np.exp(ln_e) / e_w
    return result


@_vectorised(_AirCall)
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
    result: FloatArray = rh_pct * ratio
    return result


# --- enhancement factor and water content ---------------------------------------------------


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


@_vectorised(_EnhancementCall)
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


# Defaults of vectorised inputs.
_STANDARD_PRESSURE_HPA: Final = _frozen(1013.25)
_NO_UNCERTAINTY: Final = _frozen(0.0)


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


@_vectorised(_WaterContentCall)
def ppmv(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Water vapour by volume relative to the DRY gas, in ppm: 1e6 e' / (P - e')."""
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    result: FloatArray = 1e6 * w.e_eff_pa / (w.p_pa - w.e_eff_pa)
    return result


@_vectorised(_WaterContentCall)
def mole_fraction_ppm(
    temperature_c: FloatArray,
    rh_pct: FloatArray,
    pressure_hpa: FloatArray = _STANDARD_PRESSURE_HPA,
    *,
    formulation: FormulationLike = Formulation.HARDY1998,
) -> FloatArray:
    """Mole fraction of water vapour in the MOIST gas, in ppm (µmol/mol): 1e6 e' / P."""
    w = _water_content(temperature_c, rh_pct, pressure_hpa, formulation)
    result: FloatArray = 1e6 * w.e_eff_pa / w.p_pa
    return result


@_vectorised(_WaterContentCall)
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
    result: FloatArray = 1000.0 * _EPSILON * w.e_eff_pa / (w.p_pa - w.e_eff_pa)
    return result


@_vectorised(_WaterContentCall)
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
    result: FloatArray = (
        w.e_eff_pa * MOLAR_MASS_WATER_G_PER_MOL / (MOLAR_GAS_CONSTANT_J_PER_MOL_K * t_k)
    )
    return result


# --- validity masks -------------------------------------------------------------------------


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


# --- uncertainty (GUM, first order) ---------------------------------------------------------


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


@_vectorised(_TdFUncertaintyCall)
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


@_vectorised(_TdFUncertaintyCall)
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


@_vectorised(_PpmvUncertaintyCall)
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

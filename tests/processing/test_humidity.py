"""Tests for loggerd.processing.humidity: published reference values, inversions and properties."""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loggerd.processing import humidity
from loggerd.processing.humidity import (
    FORMULATIONS,
    MOLAR_GAS_CONSTANT_J_PER_MOL_K,
    MOLAR_MASS_DRY_AIR_G_PER_MOL,
    MOLAR_MASS_WATER_G_PER_MOL,
    Formulation,
    HumidityRangeError,
    Phase,
    Quantity,
    absolute_humidity_g_m3,
    describe_formulation,
    dew_point_c,
    enhancement_factor,
    frost_dew_point_c,
    frost_dew_point_uncertainty_k,
    frost_point_c,
    frost_point_uncertainty_k,
    mixing_ratio_g_per_kg,
    mole_fraction_ppm,
    ppmv,
    ppmv_uncertainty,
    rh_from_frost_point_pct,
    rh_over_ice_pct,
    saturation_vapour_pressure_pa,
    valid_input_mask,
)

water_c = st.floats(min_value=-100.0, max_value=100.0)
ice_c = st.floats(min_value=-100.0, max_value=0.01)


def murphy_koop_ice_pa(temperature_c: float) -> float:
    # Murphy & Koop (2005), Q. J. R. Meteorol. Soc. 131, 1539-1565, eq. (7).
    t_k = temperature_c + 273.15
    return math.exp(9.550426 - 5723.265 / t_k + 3.53068 * math.log(t_k) - 0.00728332 * t_k)


def iapws_sublimation_pa(temperature_c: float) -> float:
    # IAPWS R14-08(2011), sublimation pressure of ordinary water ice (Wagner et al. 2011).
    theta = (temperature_c + 273.15) / 273.16
    a = (-0.212144006e2, 0.273203819e2, -0.610598130e1)
    b = (0.333333333e-2, 0.120666667e1, 0.170333333e1)
    return 611.657 * math.exp(sum(ai * theta**bi for ai, bi in zip(a, b, strict=True)) / theta)


# --- published reference values -------------------------------------------------------------


@pytest.mark.parametrize("over", ["water", "ice"])
def test_triple_point(over: Phase) -> None:
    # 611.657 Pa at 273.16 K (Guildner, Johnson & Jones 1976), the value both Hardy (1998)
    # formulations are anchored to.
    assert saturation_vapour_pressure_pa(0.01, over) == pytest.approx(611.657, abs=0.05)


@pytest.mark.parametrize(
    ("temperature_c", "over", "expected_pa", "rel"),
    [
        # Hardy (1998) at 0 °C; IAPWS-95 gives 611.21 Pa over water, IAPWS (2011) 611.153 Pa
        # over ice.
        (0.0, "water", 611.213, 1e-5),
        (0.0, "ice", 611.154, 1e-5),
        # IAPWS-95 saturation pressures (Wagner & Pruss 2002): 2.3392 kPa, 101.418 kPa.
        (20.0, "water", 2339.2, 5e-5),
        (100.0, "water", 101418.0, 2e-5),
        # Over ice at -70 °C: IAPWS (2011) 0.26173 Pa, Murphy & Koop (2005) eq. 7 0.26186 Pa.
        (-70.0, "ice", 0.26173, 2e-3),
    ],
)
def test_published_saturation_pressures(
    temperature_c: float, over: Phase, expected_pa: float, rel: float
) -> None:
    value = saturation_vapour_pressure_pa(temperature_c, over)
    assert value == pytest.approx(expected_pa, rel=rel)


def test_its90_steam_point() -> None:
    # ITS-90: water boils at 99.974 °C under 101 325 Pa (Preston-Thomas 1990).
    e_at_100_pa = saturation_vapour_pressure_pa(100.0)
    assert dew_point_c(100.0, 100.0 * 101325.0 / e_at_100_pa) == pytest.approx(99.974, abs=2e-3)


def test_ice_agrees_with_murphy_koop_and_iapws() -> None:
    temperatures_c = np.linspace(-100.0, 0.0, 1001)
    hardy = saturation_vapour_pressure_pa(temperatures_c, "ice")
    murphy_koop = np.array([murphy_koop_ice_pa(t) for t in temperatures_c])
    iapws = np.array([iapws_sublimation_pa(t) for t in temperatures_c])
    assert np.max(np.abs(hardy / murphy_koop - 1.0)) < 5e-3
    assert np.max(np.abs(hardy / iapws - 1.0)) < 3e-3


def test_frost_point_at_minus_70_against_murphy_koop() -> None:
    # Independent inversion: bisect Murphy & Koop for the frost point of -70 °C air at 5 %RH.
    e_pa = 0.05 * saturation_vapour_pressure_pa(-70.0)
    low_c, high_c = -100.0, -70.0
    for _ in range(60):
        mid_c = (low_c + high_c) / 2.0
        low_c, high_c = (mid_c, high_c) if murphy_koop_ice_pa(mid_c) < e_pa else (low_c, mid_c)
    assert frost_point_c(-70.0, 5.0) == pytest.approx(low_c, abs=0.05)
    assert frost_point_c(-70.0, 5.0) == pytest.approx(-84.436, abs=1e-3)


# --- kinds, shapes and missing values -------------------------------------------------------


def test_scalar_in_scalar_out_array_in_array_out() -> None:
    assert type(saturation_vapour_pressure_pa(20.0)) is float
    assert type(frost_dew_point_c(-70.0, 5.0)) is float
    temperatures_c = np.array([[-70.0, -20.0], [0.0, 25.0]])
    result = frost_dew_point_c(temperatures_c, 40.0)
    assert isinstance(result, np.ndarray)
    assert result.shape == (2, 2)
    assert rh_from_frost_point_pct(25.0, np.array([-80.0, 10.0])).shape == (2,)


# Each numeric public function with values inside its ranges: (the function, its numeric inputs
# in call order, its other arguments). Any numeric input given as an array makes the result one.
NUMERIC_INPUTS: dict[str, tuple[Callable[..., object], dict[str, float], dict[str, object]]] = {
    "saturation_vapour_pressure_pa": (
        saturation_vapour_pressure_pa,
        {"temperature_c": -20.0},
        {"over": "ice"},
    ),
    "dew_point_c": (dew_point_c, {"temperature_c": 20.0, "rh_pct": 40.0}, {}),
    "frost_point_c": (frost_point_c, {"temperature_c": -70.0, "rh_pct": 5.0}, {}),
    "frost_dew_point_c": (frost_dew_point_c, {"temperature_c": -20.0, "rh_pct": 40.0}, {}),
    "rh_from_frost_point_pct": (
        rh_from_frost_point_pct,
        {"temperature_c": -20.0, "frost_point_c": -30.0},
        {},
    ),
    "rh_over_ice_pct": (rh_over_ice_pct, {"temperature_c": -20.0, "rh_pct": 40.0}, {}),
    "enhancement_factor": (
        enhancement_factor,
        {"temperature_c": -20.0, "pressure_hpa": 1000.0},
        {"over": "ice"},
    ),
    **{
        name: (
            function,
            {"temperature_c": -20.0, "rh_pct": 40.0, "pressure_hpa": 1000.0},
            {"formulation": "sonntag1990"},
        )
        for name, function in (
            ("ppmv", ppmv),
            ("mole_fraction_ppm", mole_fraction_ppm),
            ("mixing_ratio_g_per_kg", mixing_ratio_g_per_kg),
            ("absolute_humidity_g_m3", absolute_humidity_g_m3),
        )
    },
    **{
        name: (
            function,
            {"temperature_c": -20.0, "rh_pct": 40.0, "u_temperature_k": 0.1, "u_rh_pct": 1.0},
            {"k": 1.0},
        )
        for name, function in (
            ("frost_point_uncertainty_k", frost_point_uncertainty_k),
            ("frost_dew_point_uncertainty_k", frost_dew_point_uncertainty_k),
        )
    },
    "ppmv_uncertainty": (
        ppmv_uncertainty,
        {
            "temperature_c": -20.0,
            "rh_pct": 40.0,
            "u_temperature_k": 0.1,
            "u_rh_pct": 1.0,
            "pressure_hpa": 1000.0,
            "u_pressure_hpa": 0.5,
        },
        {"k": 1.0},
    ),
}


def test_every_numeric_function_has_its_inputs_listed() -> None:
    functions = {name for name in humidity.__all__ if name.islower()}
    assert functions - {"describe_formulation", "valid_input_mask"} == set(NUMERIC_INPUTS)


def _call(
    function: Callable[..., object], inputs: dict[str, object], others: dict[str, object]
) -> object:
    """The inputs by position where the signature allows, the keyword-only ones by keyword."""
    parameters = inspect.signature(function).parameters
    keyword_only = {
        key: value
        for key, value in inputs.items()
        if parameters[key].kind is inspect.Parameter.KEYWORD_ONLY
    }
    positional = [value for key, value in inputs.items() if key not in keyword_only]
    return function(*positional, **keyword_only, **others)


@pytest.mark.parametrize("name", sorted(NUMERIC_INPUTS))
def test_scalar_in_float_out_and_array_in_same_shape_out(name: str) -> None:
    function, inputs, others = NUMERIC_INPUTS[name]
    scalar = _call(function, dict(inputs), others)
    assert type(scalar) is float
    # NumPy scalars are scalars too.
    as_numpy = {key: np.float64(value) for key, value in inputs.items()}
    assert type(function(**as_numpy, **others)) is float
    for key, value in inputs.items():
        with_array: dict[str, object] = {**inputs, key: value * np.ones((2, 3))}
        for result in (_call(function, with_array, others), function(**with_array, **others)):
            assert isinstance(result, np.ndarray)
            assert result.dtype == np.float64
            assert result.shape == (2, 3)
            np.testing.assert_array_equal(result, np.full((2, 3), scalar))
        # A 0-d array is an array: what comes out is NumPy's (a 0-d array or a NumPy scalar).
        zero_d = _call(function, {**inputs, key: np.array(value)}, others)
        assert type(zero_d) is not float
        assert np.asarray(zero_d).shape == ()
        assert np.asarray(zero_d).dtype == np.float64
        assert zero_d == scalar


def test_numeric_defaults_count_as_scalars() -> None:
    for function in (ppmv, mole_fraction_ppm, mixing_ratio_g_per_kg, absolute_humidity_g_m3):
        assert type(function(-20.0, 40.0)) is float
    assert type(ppmv_uncertainty(-20.0, 40.0, 0.1, 1.0)) is float


def test_valid_input_mask_has_the_shape_of_its_inputs() -> None:
    scalar = valid_input_mask(-70.0, 5.0)
    assert np.shape(scalar) == () and np.asarray(scalar).dtype == np.bool_
    grid = valid_input_mask(-70.0 * np.ones((2, 3)), 5.0, quantity="ppmv", pressure_hpa=1000.0)
    assert isinstance(grid, np.ndarray)
    assert grid.shape == (2, 3) and grid.dtype == np.bool_


def test_nan_stays_missing() -> None:
    result = frost_dew_point_c(np.array([-70.0, math.nan, 20.0]), np.array([5.0, 50.0, math.nan]))
    assert math.isfinite(result[0])
    assert math.isnan(result[1])
    assert math.isnan(result[2])
    assert math.isnan(saturation_vapour_pressure_pa(math.nan, "ice"))


# --- inversions and round trips -------------------------------------------------------------


@pytest.mark.parametrize("temperature_c", [-90.0, -70.0, -60.0, -40.0, -20.0, -5.0, -0.5])
@pytest.mark.parametrize("frost_point_offset_k", [0.0, 0.5, 3.0, 10.0, 20.0])
def test_frost_point_round_trip(temperature_c: float, frost_point_offset_k: float) -> None:
    frost_c = max(temperature_c - frost_point_offset_k, -99.0)
    rh_pct = rh_from_frost_point_pct(temperature_c, frost_c)
    assert frost_point_c(temperature_c, rh_pct) == pytest.approx(frost_c, abs=1e-6)
    assert frost_dew_point_c(temperature_c, rh_pct) == pytest.approx(frost_c, abs=1e-6)


def test_frost_point_round_trip_vectorised_grid() -> None:
    temperatures_c, depressions_k = np.meshgrid(np.linspace(-95.0, 0.0, 40), np.linspace(0, 40, 60))
    frost_points_c = np.clip(temperatures_c - depressions_k, -99.0, -0.001)
    rh_pct = rh_from_frost_point_pct(temperatures_c, frost_points_c)
    np.testing.assert_allclose(frost_point_c(temperatures_c, rh_pct), frost_points_c, atol=1e-6)
    np.testing.assert_allclose(frost_dew_point_c(temperatures_c, rh_pct), frost_points_c, atol=1e-6)


def test_dew_point_round_trip_above_zero() -> None:
    temperatures_c, dew_points_c = np.meshgrid(
        np.linspace(0.0, 99.0, 30), np.linspace(0.0, 99.0, 30)
    )
    dew_points_c = np.minimum(dew_points_c, temperatures_c)
    rh_pct = rh_from_frost_point_pct(temperatures_c, dew_points_c)
    np.testing.assert_allclose(dew_point_c(temperatures_c, rh_pct), dew_points_c, atol=1e-6)
    np.testing.assert_allclose(frost_dew_point_c(temperatures_c, rh_pct), dew_points_c, atol=1e-6)


def test_td_f_switches_at_zero() -> None:
    assert frost_dew_point_c(-70.0, 5.0) == frost_point_c(-70.0, 5.0)
    assert frost_dew_point_c(25.0, 50.0) == dew_point_c(25.0, 50.0)
    # Air at 20 °C with a frost point just below 0 °C.
    rh_pct = rh_from_frost_point_pct(20.0, -0.01)
    assert frost_dew_point_c(20.0, rh_pct) == pytest.approx(-0.01, abs=1e-9)
    assert frost_dew_point_c(20.0, rh_pct) != pytest.approx(dew_point_c(20.0, rh_pct), abs=1e-4)


def test_saturated_air_has_its_own_temperature_as_dew_or_frost_point() -> None:
    assert dew_point_c(25.0, 100.0) == pytest.approx(25.0, abs=1e-9)
    ice_saturation_rh_pct = 100.0 * (
        saturation_vapour_pressure_pa(-70.0, "ice") / saturation_vapour_pressure_pa(-70.0)
    )
    assert frost_point_c(-70.0, ice_saturation_rh_pct) == pytest.approx(-70.0, abs=1e-9)


def test_rh_over_ice() -> None:
    assert rh_over_ice_pct(0.01, 50.0) == pytest.approx(50.0, rel=1e-6)
    # Ice-saturated air at -70 °C is about 50 %RH over water and 100 %RH over ice.
    rh_water_pct = rh_from_frost_point_pct(-70.0, -70.0)
    assert rh_water_pct == pytest.approx(50.42, abs=0.01)
    assert rh_over_ice_pct(-70.0, rh_water_pct) == pytest.approx(100.0, abs=1e-9)


# --- properties -----------------------------------------------------------------------------


@given(water_c, water_c)
def test_water_pressure_increases_with_temperature(t1_c: float, t2_c: float) -> None:
    low_c, high_c = sorted((t1_c, t2_c))
    assert saturation_vapour_pressure_pa(low_c) <= saturation_vapour_pressure_pa(high_c)
    if high_c - low_c > 1e-6:
        assert saturation_vapour_pressure_pa(low_c) < saturation_vapour_pressure_pa(high_c)


@given(ice_c, ice_c)
def test_ice_pressure_increases_with_temperature(t1_c: float, t2_c: float) -> None:
    low_c, high_c = sorted((t1_c, t2_c))
    assert saturation_vapour_pressure_pa(low_c, "ice") <= saturation_vapour_pressure_pa(
        high_c, "ice"
    )
    if high_c - low_c > 1e-6:
        assert saturation_vapour_pressure_pa(low_c, "ice") < saturation_vapour_pressure_pa(
            high_c, "ice"
        )


@given(st.floats(min_value=-100.0, max_value=0.0))
def test_ice_below_water_below_zero(temperature_c: float) -> None:
    assert saturation_vapour_pressure_pa(temperature_c, "ice") <= saturation_vapour_pressure_pa(
        temperature_c
    )


@given(st.floats(min_value=-70.0, max_value=0.0), st.floats(min_value=2.0, max_value=100.0))
def test_frost_point_between_dew_point_and_air(temperature_c: float, rh_pct: float) -> None:
    frost_c = frost_point_c(temperature_c, rh_pct)
    assert dew_point_c(temperature_c, rh_pct) <= frost_c
    # Only air that is not supersaturated over ice has its frost point at or below itself.
    if rh_over_ice_pct(temperature_c, rh_pct) <= 100.0:
        assert frost_c <= temperature_c + 1e-9


@given(st.floats(min_value=-60.0, max_value=100.0), st.floats(min_value=0.5, max_value=100.0))
def test_td_f_round_trip(temperature_c: float, rh_pct: float) -> None:
    td_f_c = frost_dew_point_c(temperature_c, rh_pct)
    # Vapour pressures between e_i(0 °C) and e_w(0 °C) have no exact Td/f (see the docstring).
    assume(not -0.0014 < td_f_c < 0.0)
    assert rh_from_frost_point_pct(temperature_c, td_f_c) == pytest.approx(rh_pct, rel=1e-9)


# --- range errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperature_c", "over", "expected"),
    [
        (-100.5, "water", r"-100\.5 °C .* over water \(-100 °C to \+100 °C\)"),
        (100.5, "water", r"100\.5 °C .* over water \(-100 °C to \+100 °C\)"),
        (-120.0, "ice", r"-120 °C .* over ice \(-100 °C to \+0\.01 °C\)"),
        (0.02, "ice", r"0\.02 °C .* over ice \(-100 °C to \+0\.01 °C\)"),
        (math.inf, "water", r"inf °C"),
    ],
)
def test_saturation_range_errors(temperature_c: float, over: Phase, expected: str) -> None:
    with pytest.raises(HumidityRangeError, match=expected) as info:
        saturation_vapour_pressure_pa(temperature_c, over)
    assert "Hardy (1998) ITS-90" in str(info.value)


def test_range_error_in_array_names_first_offender() -> None:
    with pytest.raises(HumidityRangeError, match=r"-150 °C \(first of 2 of 4 values"):
        saturation_vapour_pressure_pa(np.array([1.0, -150.0, 2.0, -200.0]))


def test_range_errors_are_value_errors() -> None:
    assert issubclass(HumidityRangeError, ValueError)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: frost_point_c(20.0, 90.0),
            r"frost point of air at 20 °C and 90 %RH.*above \+0.01",
        ),
        (lambda: frost_point_c(-90.0, 0.01), r"frost point of air at -90 °C.*below -100 °C"),
        (lambda: dew_point_c(99.0, 120.0), r"dew point of air at 99 °C and 120 %RH.*above \+100"),
        (lambda: dew_point_c(20.0, 0.0), r"relative humidity 0 %RH is invalid"),
        (lambda: frost_dew_point_c(20.0, -5.0), r"relative humidity -5 %RH is invalid"),
        (lambda: rh_from_frost_point_pct(20.0, -101.0), r"-101 °C .* over ice"),
        (lambda: rh_over_ice_pct(5.0, 50.0), r"5 °C .* over ice"),
    ],
)
def test_inversion_range_errors(call: Callable[[], object], expected: str) -> None:
    with pytest.raises(HumidityRangeError, match=expected):
        call()


def test_unknown_phase_is_rejected() -> None:
    with pytest.raises(ValueError, match="'water' or 'ice'"):
        saturation_vapour_pressure_pa(20.0, "steam")  # type: ignore[call-overload]


# === formulations ===========================================================================

ALL_FORMULATIONS = list(Formulation)
# Formulations whose water curve covers supercooled water (Hyland-Wexler's starts at 0 °C).
SUPERCOOLED_FORMULATIONS = [f for f in Formulation if f is not Formulation.HYLAND_WEXLER1983]


def test_every_formulation_is_described() -> None:
    assert set(FORMULATIONS) == set(Formulation)
    for formulation, info in FORMULATIONS.items():
        assert info.formulation is formulation
        assert info.citation and info.name and info.note
        assert info.water_range_c[0] < info.water_range_c[1]
        assert info.ice_range_c[0] < info.ice_range_c[1] <= 0.01 + 1e-9
    assert describe_formulation().formulation is Formulation.HARDY1998
    assert describe_formulation("murphy_koop2005").water_range_c == pytest.approx(
        (123.0 - 273.15, 332.0 - 273.15)
    )
    assert describe_formulation(Formulation.HYLAND_WEXLER1983).water_range_c == (0.0, 200.0)
    # The value is what the daemon records with each derived sample.
    assert Formulation.SONNTAG1990 == "sonntag1990"


def test_formulation_given_as_string_or_enum_is_the_same() -> None:
    as_enum = frost_point_c(-70.0, 5.0, formulation=Formulation.MURPHY_KOOP2005)
    assert frost_point_c(-70.0, 5.0, formulation="murphy_koop2005") == as_enum


def test_unknown_formulation_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown formulation 'hardy'.*'hardy1998'"):
        frost_point_c(-70.0, 5.0, formulation="hardy")  # type: ignore[arg-type]


@pytest.mark.parametrize("formulation", ALL_FORMULATIONS)
@pytest.mark.parametrize("over", ["water", "ice"])
def test_every_formulation_gives_the_triple_point(formulation: Formulation, over: Phase) -> None:
    # 611.657 Pa at 273.16 K (Guildner, Johnson & Jones 1976; IAPWS).
    value = saturation_vapour_pressure_pa(0.01, over, formulation=formulation)
    assert value == pytest.approx(611.657, abs=0.01)


@pytest.mark.parametrize(
    ("t_k", "over", "expected_pa"),
    [
        # Murphy & Koop (2005) Table C1 "values recommended for checking computer codes", as
        # transcribed in E3SM-Project/scream components/scream/src/physics/p3/tests/
        # p3_saturation_unit_tests.cpp (5 significant digits).
        (150.0, "ice", 6.1061e-6),
        (180.0, "ice", 0.0053975),
        (210.0, "ice", 0.70202),
        (240.0, "ice", 27.272),
        (273.16, "ice", 611.657),
        (150.0, "water", 1.5621e-5),
        (180.0, "water", 0.011239),
        (210.0, "water", 1.2335),
        (240.0, "water", 37.667),
        (273.16, "water", 611.657),
        (300.0, "water", 3536.8),
    ],
)
def test_murphy_koop_table_c1(t_k: float, over: Phase, expected_pa: float) -> None:
    value = saturation_vapour_pressure_pa(t_k - 273.15, over, formulation="murphy_koop2005")
    assert value == pytest.approx(expected_pa, rel=5e-5)


@pytest.mark.parametrize(
    ("temperature_c", "over", "expected_pa", "tolerance"),
    [
        # ASHRAE Handbook Fundamentals 2017, ch. 1, Table 3 (Hyland & Wexler 1983), as used
        # in psychrometrics/psychrolib tests/test_psychrolib_si.py; ASHRAE quotes 300 ppm.
        (-60.0, "ice", 1.08, {"abs": 0.01}),
        (-20.0, "ice", 103.24, {"rel": 3e-4}),
        (-5.0, "ice", 401.74, {"rel": 3e-4}),
        (5.0, "water", 872.6, {"rel": 3e-4}),
        (25.0, "water", 3169.7, {"rel": 3e-4}),
        (50.0, "water", 12351.3, {"rel": 3e-4}),
        (100.0, "water", 101418.0, {"rel": 3e-4}),
        (150.0, "water", 476101.4, {"rel": 3e-4}),
    ],
)
def test_hyland_wexler_against_ashrae_table_3(
    temperature_c: float, over: Phase, expected_pa: float, tolerance: dict[str, float]
) -> None:
    value = saturation_vapour_pressure_pa(temperature_c, over, formulation="hyland_wexler1983")
    assert value == pytest.approx(expected_pa, **tolerance)


@pytest.mark.parametrize("formulation", SUPERCOOLED_FORMULATIONS)
def test_against_wmo_magnus_formulae(formulation: Formulation) -> None:
    # WMO CIMO Guide (WMO-No. 8, 2008) Annex 4.B: e_w = 6.112 exp(17.62 t / (243.12 + t)) hPa
    # for -45 °C to +60 °C, e_i = 6.112 exp(22.46 t / (272.62 + t)) hPa for -65 °C to 0 °C.
    # The Magnus fits are approximations; they agree within a few tenths of a per cent.
    t_ice = np.linspace(-65.0, 0.0, 66)
    magnus_ice = 611.2 * np.exp(22.46 * t_ice / (272.62 + t_ice))
    ice = saturation_vapour_pressure_pa(t_ice, "ice", formulation=formulation)
    assert np.max(np.abs(magnus_ice / ice - 1.0)) < 3e-3
    # Murphy & Koop's supercooled water is a different curve (0.7 % lower at -45 °C).
    low_c = 0.0 if formulation is Formulation.MURPHY_KOOP2005 else -45.0
    t_water = np.linspace(low_c, 58.0, 104)
    magnus_water = 611.2 * np.exp(17.62 * t_water / (243.12 + t_water))
    water = saturation_vapour_pressure_pa(t_water, "water", formulation=formulation)
    assert np.max(np.abs(magnus_water / water - 1.0)) < 5e-3


def test_supercooled_water_curves_disagree_by_several_percent_at_minus_70() -> None:
    # Why the formulation is a named per-channel setting: RH over water at -70 °C depends on it.
    hardy = saturation_vapour_pressure_pa(-70.0)
    sonntag = saturation_vapour_pressure_pa(-70.0, formulation="sonntag1990")
    murphy_koop = saturation_vapour_pressure_pa(-70.0, formulation="murphy_koop2005")
    assert sonntag / hardy - 1.0 == pytest.approx(0.0, abs=1e-3)
    assert 0.05 < 1.0 - murphy_koop / hardy < 0.12
    # Over ice the formulations agree much better (within 0.2 % here).
    ice = [saturation_vapour_pressure_pa(-70.0, "ice", formulation=f) for f in ALL_FORMULATIONS]
    assert max(ice) / min(ice) - 1.0 < 2e-3


@pytest.mark.parametrize(
    ("formulation", "expected_c"),
    [
        # Computed here; Hardy cross-checked against an independent Murphy & Koop ice inversion
        # above (test_frost_point_at_minus_70_against_murphy_koop).
        (Formulation.HARDY1998, -84.4362),
        (Formulation.SONNTAG1990, -84.4380),
        (Formulation.MURPHY_KOOP2005, -84.9107),
    ],
)
def test_frost_point_at_minus_70_by_formulation(
    formulation: Formulation, expected_c: float
) -> None:
    assert frost_point_c(-70.0, 5.0, formulation=formulation) == pytest.approx(expected_c, abs=1e-3)


def test_hyland_wexler_has_no_rh_over_water_below_zero() -> None:
    with pytest.raises(
        HumidityRangeError,
        match=r"-70 °C is outside .* Hyland & Wexler \(1983\) .* over water \(\+0 °C to \+200 °C\)",
    ):
        frost_point_c(-70.0, 5.0, formulation="hyland_wexler1983")
    # From 0 °C up it gives frost points (of air at or above 0 °C).
    assert frost_point_c(20.0, 10.0, formulation="hyland_wexler1983") == pytest.approx(
        frost_point_c(20.0, 10.0), abs=0.01
    )


@pytest.mark.parametrize(
    ("formulation", "temperature_c", "over", "expected"),
    [
        ("murphy_koop2005", -151.0, "water", r"Murphy & Koop .* water \(-150\.15 °C to \+58\.85"),
        ("murphy_koop2005", 60.0, "water", r"Murphy & Koop .* water \(-150\.15 °C to \+58\.85"),
        ("murphy_koop2005", -164.0, "ice", r"Murphy & Koop .* ice \(-163\.15 °C to \+0\.01 °C\)"),
        ("sonntag1990", -100.5, "water", r"Sonntag \(1990\) .* water \(-100 °C to \+100 °C\)"),
        ("sonntag1990", 0.02, "ice", r"Sonntag \(1990\) .* ice \(-100 °C to \+0\.01 °C\)"),
        ("hyland_wexler1983", -0.5, "water", r"Hyland & Wexler .* water \(\+0 °C to \+200 °C\)"),
        ("hyland_wexler1983", -101.0, "ice", r"Hyland & Wexler .* ice \(-100 °C to \+0\.01"),
    ],
)
def test_formulation_range_errors(
    formulation: Formulation, temperature_c: float, over: Phase, expected: str
) -> None:
    with pytest.raises(HumidityRangeError, match=expected):
        saturation_vapour_pressure_pa(temperature_c, over, formulation=formulation)


# --- round trips to 1e-6 K, every formulation ------------------------------------------------


@pytest.mark.parametrize("formulation", SUPERCOOLED_FORMULATIONS)
@pytest.mark.parametrize("rh_pct", [1.0, 2.0, 3.0, 5.0, 7.5, 10.0])
def test_round_trip_at_minus_70_and_a_few_percent(formulation: Formulation, rh_pct: float) -> None:
    frost_c = frost_point_c(-70.0, rh_pct, formulation=formulation)
    back_rh = rh_from_frost_point_pct(-70.0, frost_c, formulation=formulation)
    assert back_rh == pytest.approx(rh_pct, rel=1e-9)
    again_c = frost_point_c(-70.0, back_rh, formulation=formulation)
    assert again_c == pytest.approx(frost_c, abs=1e-6)


@pytest.mark.parametrize("formulation", ALL_FORMULATIONS)
def test_round_trip_grid_every_formulation(formulation: Formulation) -> None:
    water_min_c = max(FORMULATIONS[formulation].water_range_c[0], -95.0)
    temperatures_c, depressions_k = np.meshgrid(
        np.linspace(water_min_c, 0.0, 25), np.linspace(0.0, 30.0, 31)
    )
    frost_points_c = np.clip(temperatures_c - depressions_k, -99.0, -0.001)
    rh_pct = rh_from_frost_point_pct(temperatures_c, frost_points_c, formulation=formulation)
    back_c = frost_point_c(temperatures_c, rh_pct, formulation=formulation)
    np.testing.assert_allclose(back_c, frost_points_c, atol=1e-6, rtol=0.0)
    td_f_c = frost_dew_point_c(temperatures_c, rh_pct, formulation=formulation)
    np.testing.assert_allclose(td_f_c, frost_points_c, atol=1e-6, rtol=0.0)


@given(
    st.sampled_from(SUPERCOOLED_FORMULATIONS),
    st.floats(min_value=-95.0, max_value=-1.0),
    st.floats(min_value=0.0, max_value=40.0),
)
def test_frost_point_round_trip_property(
    formulation: Formulation, temperature_c: float, depression_k: float
) -> None:
    frost_c = max(temperature_c - depression_k, -99.9)
    rh_pct = rh_from_frost_point_pct(temperature_c, frost_c, formulation=formulation)
    assert frost_point_c(temperature_c, rh_pct, formulation=formulation) == pytest.approx(
        frost_c, abs=1e-6
    )


@given(
    st.sampled_from(ALL_FORMULATIONS),
    st.floats(min_value=0.5, max_value=95.0),
    st.floats(min_value=0.0, max_value=60.0),
)
def test_dew_point_round_trip_property(
    formulation: Formulation, temperature_c: float, depression_k: float
) -> None:
    temperature_c = min(temperature_c, FORMULATIONS[formulation].water_range_c[1])
    dew_c = max(temperature_c - depression_k, 0.0)
    rh_pct = rh_from_frost_point_pct(temperature_c, dew_c, formulation=formulation)
    assert dew_point_c(temperature_c, rh_pct, formulation=formulation) == pytest.approx(
        dew_c, abs=1e-6
    )


# --- properties, every formulation -----------------------------------------------------------


def _in_range(formulation: Formulation, over: Phase, fraction: float) -> float:
    info = FORMULATIONS[formulation]
    low, high = info.water_range_c if over == "water" else info.ice_range_c
    return low + fraction * (high - low)


@given(
    st.sampled_from(ALL_FORMULATIONS),
    st.sampled_from(["water", "ice"]),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_saturation_pressure_increases_with_temperature(
    formulation: Formulation, over: Phase, f1: float, f2: float
) -> None:
    low_c, high_c = sorted((_in_range(formulation, over, f1), _in_range(formulation, over, f2)))
    low = saturation_vapour_pressure_pa(low_c, over, formulation=formulation)
    high = saturation_vapour_pressure_pa(high_c, over, formulation=formulation)
    assert low <= high
    if high_c - low_c > 1e-6:
        assert low < high


@given(st.sampled_from(SUPERCOOLED_FORMULATIONS), st.floats(min_value=-100.0, max_value=0.0))
def test_ice_at_or_below_water_below_zero_every_formulation(
    formulation: Formulation, temperature_c: float
) -> None:
    ice = saturation_vapour_pressure_pa(temperature_c, "ice", formulation=formulation)
    water = saturation_vapour_pressure_pa(temperature_c, "water", formulation=formulation)
    assert ice <= water


@given(
    st.sampled_from(SUPERCOOLED_FORMULATIONS),
    st.floats(min_value=-80.0, max_value=-1.0),
    st.floats(min_value=1.0, max_value=60.0),
    st.floats(min_value=1.0, max_value=60.0),
)
def test_frost_point_and_ppmv_increase_with_rh(
    formulation: Formulation, temperature_c: float, rh1: float, rh2: float
) -> None:
    low, high = sorted((rh1, rh2))
    assume(high - low > 1e-6)
    # Frost points below -100 °C leave the ranges (of Hardy's ice curve, of the enhancement fit).
    assume(bool(valid_input_mask(temperature_c, low, quantity="ppmv", formulation=formulation)))
    assert frost_point_c(temperature_c, low, formulation=formulation) < frost_point_c(
        temperature_c, high, formulation=formulation
    )
    assert ppmv(temperature_c, low, formulation=formulation) < ppmv(
        temperature_c, high, formulation=formulation
    )


def test_mixing_water_and_ice_is_off_by_kelvins_at_minus_70() -> None:
    # A library that silently inverts the water curve where ice is meant gives the dew point:
    # several kelvin below the frost point at -70 °C and 5 %RH.
    assert frost_point_c(-70.0, 5.0) - dew_point_c(-70.0, 5.0) > 4.0
    # And 3 %RH either side of 5 %RH spans more than 7 K of frost point there.
    assert frost_point_c(-70.0, 8.0) - frost_point_c(-70.0, 2.0) > 7.0


# === canaries for circulating misprints ======================================================
#
# Each misprinted set below is evaluated by a local copy of the formula and shown to miss a
# reference value by more than the tolerance the module is held to at that point, while the
# module meets it: a future "fix" that introduced the misprint would fail.

HARDY_WATER_G = (
    -2.8365744e3,
    -6.028076559e3,
    1.954263612e1,
    -2.737830188e-2,
    1.6261698e-5,
    7.0229056e-10,
    -1.8680009e-13,
    2.7150305,
)
HARDY_ICE_K = (
    -5.8666426e3,
    2.232870244e1,
    1.39387003e-2,
    -3.4262402e-5,
    2.7040955e-8,
    6.7063522e-1,
)


def hardy_water_pa(temperature_c: float, g: tuple[float, ...] = HARDY_WATER_G) -> float:
    t_k = temperature_c + 273.15
    return math.exp(sum(g[i] * t_k ** (i - 2) for i in range(7)) + g[7] * math.log(t_k))


def hardy_ice_pa(temperature_c: float, k: tuple[float, ...] = HARDY_ICE_K) -> float:
    t_k = temperature_c + 273.15
    return math.exp(sum(k[i] * t_k ** (i - 1) for i in range(5)) + k[5] * math.log(t_k))


def test_module_uses_exactly_the_checked_hardy_coefficients() -> None:
    # The local transcription above is the one the reference tests below vet; the module must
    # agree with it to rounding everywhere, so any change to a coefficient shows up here.
    temperatures_c = np.linspace(-100.0, 100.0, 401)
    local = np.array([hardy_water_pa(float(t)) for t in temperatures_c])
    np.testing.assert_allclose(saturation_vapour_pressure_pa(temperatures_c), local, rtol=1e-12)
    temperatures_c = np.linspace(-100.0, 0.01, 201)
    local = np.array([hardy_ice_pa(float(t)) for t in temperatures_c])
    module = saturation_vapour_pressure_pa(temperatures_c, "ice")
    np.testing.assert_allclose(module, local, rtol=1e-12)


def with_coefficient(
    coefficients: tuple[float, ...], index: int, value: float
) -> tuple[float, ...]:
    return (*coefficients[:index], value, *coefficients[index + 1 :])


@pytest.mark.parametrize(
    ("misprinted", "where"),
    [
        # k0 with a digit dropped and k1 with a digit dropped, both in the dew/frost-point code
        # of the GLT antenna-tracking software (GitHub GLTsoftware), which credits "Bob Hardy,
        # Thunder Scientific Corp."
        (with_coefficient(HARDY_ICE_K, 0, -5.866426e3), "GLT: k0 = -5.866426e3"),
        (with_coefficient(HARDY_ICE_K, 1, 22.3870244), "GLT: k1 = 22.3870244"),
        # k0 = -5.8666426*10*3 (for *10**3) in pjmateus/hgpt_model hgpt2.py.
        (with_coefficient(HARDY_ICE_K, 0, -5.8666426 * 10 * 3), "hgpt2: k0 = -5.8666426*10*3"),
    ],
)
def test_canary_hardy_ice_misprints(misprinted: tuple[float, ...], where: str) -> None:
    # Reference: the triple point, 611.657 Pa, held to 0.05 Pa in test_triple_point.
    assert hardy_ice_pa(0.01) == pytest.approx(611.657, abs=0.05)
    assert saturation_vapour_pressure_pa(0.01, "ice") == pytest.approx(
        hardy_ice_pa(0.01), rel=1e-12
    )
    assert abs(hardy_ice_pa(0.01, misprinted) - 611.657) > 0.05, where


def test_canary_pre_its90_wexler_water_coefficients() -> None:
    # Wexler's (1976) IPTS-68 coefficients, which circulate beside (and are mistaken for)
    # Hardy's ITS-90 refit, e.g. commented as g_ITS68 in an R humidity package on GitHub.
    wexler_ipts68 = (
        -2.9912729e3,
        -6.0170128e3,
        1.887643854e1,
        -2.8354721e-2,
        1.7838301e-5,
        -8.4150417e-10,
        4.4412543e-13,
        2.858487,
    )
    # IAPWS-95 at 100 °C (ITS-90): 101 418 Pa, held to 2e-5 in test_published_saturation_pressures.
    assert saturation_vapour_pressure_pa(100.0) == pytest.approx(101418.0, rel=2e-5)
    assert abs(hardy_water_pa(100.0, wexler_ipts68) / 101418.0 - 1.0) > 2e-5


def hardy_dew_point_approximation_c(e_pa: float, c: tuple[float, ...]) -> float:
    # Hardy (1998) rational inverse: T_d = sum c_i ln(e)^i / sum d_i ln(e)^i, in kelvin.
    d = (1.0, -1.3319669e-1, 5.6577518e-3, -7.5172865e-5)
    ln_e = math.log(e_pa)
    numerator = sum(ci * ln_e**i for i, ci in enumerate(c))
    return numerator / sum(di * ln_e**i for i, di in enumerate(d)) - 273.15


def test_canary_hardy_dew_point_inverse_misprint() -> None:
    # Hardy's published inverse agrees with the exact inversion used here within 0.3 mK over
    # -50 °C to +100 °C; the GLT copy has c1 = -2.0156028 for -2.0156028e1.
    correct = (2.0798233e2, -2.0156028e1, 4.6778925e-1, -9.2288067e-6)
    misprinted = (2.0798233e2, -2.0156028, 4.6778925e-1, -9.2288067e-6)
    for dew_c in (-40.0, -10.0, 0.0, 20.0, 60.0, 95.0):
        e_pa = saturation_vapour_pressure_pa(dew_c)
        assert dew_point_c(dew_c, 100.0) == pytest.approx(dew_c, abs=1e-9)
        assert hardy_dew_point_approximation_c(e_pa, correct) == pytest.approx(dew_c, abs=1e-3)
        assert abs(hardy_dew_point_approximation_c(e_pa, misprinted) - dew_c) > 1.0


def test_hardy_frost_point_inverse_agrees_with_exact_inversion() -> None:
    c = (2.1257969e2, -1.0264612e1, 1.4354796e-1)
    d = (1.0, -8.2871619e-2, 2.3540411e-3, -2.4363951e-5)
    for frost_c in np.linspace(-100.0, 0.0, 101):
        ln_e = math.log(saturation_vapour_pressure_pa(float(frost_c), "ice"))
        approx_k = sum(ci * ln_e**i for i, ci in enumerate(c)) / sum(
            di * ln_e**i for i, di in enumerate(d)
        )
        assert approx_k - 273.15 == pytest.approx(frost_c, abs=2e-4)


# === enhancement factor ======================================================================


def greenspan_ipts68(
    temperature_c: float,
    pressure_pa: float,
    a: tuple[float, ...],
    b: tuple[float, ...],
    e_pa: float,
) -> float:
    alpha = sum(ai * temperature_c**i for i, ai in enumerate(a))
    beta = math.exp(sum(bi * temperature_c**i for i, bi in enumerate(b)))
    return math.exp(alpha * (1.0 - e_pa / pressure_pa) + beta * (pressure_pa / e_pa - 1.0))


# Greenspan's (1976) original coefficients, t in °C (IPTS-68), as transcribed in a JavaScript
# psychrometrics page on GitHub citing Greenspan (1976) and in a Python "Greenspan" seeder
# (whose A3 exponents are misprinted, see below). An independent check of the ITS-90
# kelvin-form coefficients the module uses.
GREENSPAN_WATER = (
    (3.53624e-4, 2.93228e-5, 2.61474e-7, 8.57538e-9),
    (-10.7588, 6.32529e-2, -2.53591e-4, 6.33784e-7),
)
GREENSPAN_ICE = (
    (3.64449e-4, 2.93631e-5, 4.88635e-7, 4.36543e-9),
    (-10.7271, 7.61989e-2, -1.74771e-4, 2.46721e-6),
)


@pytest.mark.parametrize("pressure_hpa", [500.0, 1013.25, 1100.0])
def test_enhancement_factor_matches_greenspan_original(pressure_hpa: float) -> None:
    for t in np.linspace(0.0, 100.0, 21):
        e = saturation_vapour_pressure_pa(float(t))
        if e > 0.9 * 100.0 * pressure_hpa:
            continue  # no moist air at this pressure
        expected = greenspan_ipts68(float(t), 100.0 * pressure_hpa, *GREENSPAN_WATER, e)
        assert enhancement_factor(float(t), pressure_hpa) == pytest.approx(expected, abs=5e-5)
    for t in np.linspace(-100.0, 0.0, 21):
        e = saturation_vapour_pressure_pa(float(t), "ice")
        expected = greenspan_ipts68(float(t), 100.0 * pressure_hpa, *GREENSPAN_ICE, e)
        assert enhancement_factor(float(t), pressure_hpa, "ice") == pytest.approx(
            expected, abs=5e-5
        )


def test_enhancement_factor_against_cipm_2007() -> None:
    # CIPM-2007 air-density equation (Picard et al. 2008, Metrologia 45, 149-155):
    # f = 1.00062 + 3.14e-8 p/Pa + 5.6e-7 (t/°C)^2, for laboratory air near 20 °C.
    cipm = 1.00062 + 3.14e-8 * 101325.0 + 5.6e-7 * 20.0**2
    assert enhancement_factor(20.0, 1013.25) == pytest.approx(cipm, abs=1e-4)


def test_enhancement_factor_against_sonntag_and_wmo() -> None:
    # Sonntag (1994) enhancement factors (transcribed in atmtools/arts
    # aii/WaterVaporSatPressure.pro, AirCorrFunWater/Ice), an independent fit: within 1e-3.
    def sonntag_ice(t: float, p_hpa: float) -> float:
        ei = saturation_vapour_pressure_pa(t, "ice") / 100.0
        a = ei * 1e-5 / (273.0 + t)
        b = (2100.0 - 65.0 * t) * (1.0 - ei / p_hpa) + (109.0 - 0.35 * t + t * t / 338.0) * (
            p_hpa / ei - 1.0
        )
        return 1.0 + a * b

    def sonntag_water(t: float, p_hpa: float) -> float:
        ew = saturation_vapour_pressure_pa(t) / 100.0
        a = ew * 1e-4 / (273.0 + t)
        b = (
            38.0
            + 173.0 * math.exp(-t / 43.0) * (1.0 - ew / p_hpa)
            + (6.39 + 4.28 * math.exp(-t / 107.0)) * (p_hpa / ew - 1.0)
        )
        return 1.0 + a * b

    for t in (-90.0, -70.0, -40.0, -10.0):
        assert enhancement_factor(t, 1013.25, "ice") == pytest.approx(
            sonntag_ice(t, 1013.25), abs=3e-3
        )
    for t in (0.0, 20.0, 40.0):
        assert enhancement_factor(t, 1013.25) == pytest.approx(sonntag_water(t, 1013.25), abs=1e-3)
    # WMO CIMO Guide Annex 4.B: f(p) = 1.0016 + 3.15e-6 p - 0.074/p (p in hPa), for both phases.
    wmo = 1.0016 + 3.15e-6 * 1013.25 - 0.074 / 1013.25
    for t in (-40.0, -20.0, 0.0):
        assert enhancement_factor(t, 1013.25, "ice") == pytest.approx(wmo, abs=1e-3)
    for t in (0.0, 20.0, 40.0):
        assert enhancement_factor(t, 1013.25) == pytest.approx(wmo, abs=1e-3)


def test_enhancement_factor_is_one_at_saturation_pressure() -> None:
    # f = exp(alpha (1 - e_s/P) + beta (P/e_s - 1)) is exactly 1 where P = e_s.
    e_hpa = saturation_vapour_pressure_pa(65.0) / 100.0
    assert enhancement_factor(65.0, e_hpa * (1.0 + 1e-12)) == pytest.approx(1.0, abs=1e-9)


@given(
    st.sampled_from(["water", "ice"]),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=200.0, max_value=1100.0),
    st.floats(min_value=200.0, max_value=1100.0),
)
def test_enhancement_factor_grows_with_pressure(
    over: Phase, fraction: float, p1: float, p2: float
) -> None:
    temperature_c = -50.0 + 150.0 * fraction if over == "water" else -100.0 + 100.0 * fraction
    low, high = sorted((p1, p2))
    assume(high - low > 1e-3)
    assume(100.0 * low > saturation_vapour_pressure_pa(temperature_c, over))
    f_low = enhancement_factor(temperature_c, low, over)
    assert 1.0 < f_low < enhancement_factor(temperature_c, high, over) < 1.02


def test_enhancement_factor_shapes_and_errors() -> None:
    result = enhancement_factor(np.array([-70.0, -20.0]), 1013.25, "ice")
    assert isinstance(result, np.ndarray)
    assert result.shape == (2,)
    with pytest.raises(HumidityRangeError, match=r"-60 °C .* over water \(-50 °C to \+100 °C\)"):
        enhancement_factor(-60.0, 1013.25)
    with pytest.raises(HumidityRangeError, match=r"5 °C .* over ice \(-100 °C to \+0 °C\)"):
        enhancement_factor(5.0, 1013.25, "ice")
    with pytest.raises(HumidityRangeError, match=r"pressure 1200 hPa .* \(200 hPa to 1100 hPa\)"):
        enhancement_factor(20.0, 1200.0)
    with pytest.raises(HumidityRangeError, match=r"pressure 150 hPa .* \(200 hPa to 1100 hPa\)"):
        enhancement_factor(-70.0, 150.0, "ice")
    with pytest.raises(HumidityRangeError, match=r"pressure 240 hPa is not above the saturation"):
        enhancement_factor(65.0, 240.0)
    with pytest.raises(ValueError, match="'water' or 'ice'"):
        enhancement_factor(20.0, 1013.25, "steam")  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("a", "b", "over", "where"),
    [
        # A degree-Celsius ice set labelled "Hardy 1998" in two copies of a JavaScript humidity
        # calculator on GitHub: B0, B2, B3 are inconsistent with the kelvin form (B3, the cubic
        # coefficient, cannot change under t = T - 273.15, yet 2.1689756e-6 != 2.4668279e-6).
        (
            (3.64449e-4, 2.9367585e-5, 4.8874766e-7, 4.3669918e-9),
            (-1.0728876e1, 7.6215115e-2, -1.7540413e-4, 2.1689756e-6),
            "ice",
            "JS 'Hardy 1998' ice",
        ),
        # A3 with its exponent misprinted, e-6 for e-9 (water) and e-5 for e-9 (ice), in a
        # Python coefficient seeder on GitHub labelled "Greenspan 1981".
        (
            (3.53624e-4, 2.932836e-5, 2.61474e-7, 8.57538e-6),
            GREENSPAN_WATER[1],
            "water",
            "seeder water A3",
        ),
        (
            (3.64449e-4, 2.93631e-5, 4.88635e-7, 4.36543e-5),
            GREENSPAN_ICE[1],
            "ice",
            "seeder ice A3",
        ),
    ],
)
def test_canary_enhancement_coefficient_misprints(
    a: tuple[float, ...], b: tuple[float, ...], over: Phase, where: str
) -> None:
    temperatures_c = [-90.0, -70.0, -20.0] if over == "ice" else [5.0, 20.0, 60.0]
    worst = 0.0
    for t in temperatures_c:
        e = saturation_vapour_pressure_pa(t, over)
        correct = enhancement_factor(t, 1013.25, over)
        worst = max(worst, abs(greenspan_ipts68(t, 101325.0, a, b, e) - correct))
    # The module is held to 5e-5 against Greenspan's original coefficients.
    assert worst > 5e-4, where


def test_canary_enhancement_beta_term_sign_error() -> None:
    # beta (e_s/P - 1) for beta (P/e_s - 1), as in a Fortran WRF post-processor on GitHub,
    # gives f < 1: less water than pure vapour at saturation.
    t, p = -40.0, 101325.0
    e = saturation_vapour_pressure_pa(t, "ice")
    alpha = sum(ai * t**i for i, ai in enumerate(GREENSPAN_ICE[0]))
    beta = math.exp(sum(bi * t**i for i, bi in enumerate(GREENSPAN_ICE[1])))
    wrong = math.exp(alpha * (1.0 - e / p) + beta * (e / p - 1.0))
    assert wrong < 1.0 < enhancement_factor(t, p / 100.0, "ice")


# === water content ===========================================================================


def test_ppmv_at_minus_70() -> None:
    # -70 °C, 5 %RH, 1013.25 hPa: e = 0.05 e_w(-70 °C), frost point -84.436 °C, f_i = 1.0077.
    e = 0.05 * saturation_vapour_pressure_pa(-70.0)
    f = enhancement_factor(frost_point_c(-70.0, 5.0), 1013.25, "ice")
    expected = 1e6 * f * e / (101325.0 - f * e)
    assert ppmv(-70.0, 5.0) == pytest.approx(expected, rel=1e-12)
    assert ppmv(-70.0, 5.0) == pytest.approx(0.25783, abs=1e-5)
    assert mole_fraction_ppm(-70.0, 5.0) == pytest.approx(1e6 * f * e / 101325.0, rel=1e-12)


def test_water_content_against_cipm_2007() -> None:
    # CIPM-2007 (Picard et al. 2008): x_v = h f(p, t) p_sv(T) / p with
    # p_sv = exp(A T^2 + B T + C + D/T) Pa; at 20 °C, 50 %RH, 101 325 Pa.
    t_k = 293.15
    p_sv = math.exp(1.2378847e-5 * t_k**2 - 1.9121316e-2 * t_k + 33.93711047 - 6.3431645e3 / t_k)
    f = 1.00062 + 3.14e-8 * 101325.0 + 5.6e-7 * 20.0**2
    x_v_ppm = 1e6 * 0.5 * f * p_sv / 101325.0
    assert mole_fraction_ppm(20.0, 50.0) == pytest.approx(x_v_ppm, rel=3e-4)


@pytest.mark.parametrize(
    ("temperature_c", "expected_g_per_kg", "rel"),
    [
        # Saturation humidity ratio at 101.325 kPa, over ice below 0 °C: ASHRAE Handbook
        # Fundamentals 2017, ch. 1, Table 2 (via psychrometrics/psychrolib tests).
        (-50.0, 0.0243, 2e-3),
        (-20.0, 0.6373, 1e-3),
        (5.0, 5.425, 1e-3),
        (25.0, 20.173, 1e-3),
    ],
)
def test_saturation_mixing_ratio_against_ashrae_table_2(
    temperature_c: float, expected_g_per_kg: float, rel: float
) -> None:
    saturated_rh = rh_from_frost_point_pct(temperature_c, temperature_c)
    value = mixing_ratio_g_per_kg(temperature_c, saturated_rh, 1013.25)
    assert value == pytest.approx(expected_g_per_kg, rel=rel)


def test_water_content_quantities_are_consistent() -> None:
    temperatures_c = np.array([-70.0, -40.0, 0.0, 23.0])
    rh_pct = np.array([5.0, 30.0, 50.0, 80.0])
    pressures_hpa = np.array([1013.25, 950.0, 1000.0, 800.0])
    x = mole_fraction_ppm(temperatures_c, rh_pct, pressures_hpa) / 1e6
    r = ppmv(temperatures_c, rh_pct, pressures_hpa) / 1e6
    np.testing.assert_allclose(r, x / (1.0 - x), rtol=1e-12)
    epsilon = MOLAR_MASS_WATER_G_PER_MOL / MOLAR_MASS_DRY_AIR_G_PER_MOL
    mixing = mixing_ratio_g_per_kg(temperatures_c, rh_pct, pressures_hpa)
    np.testing.assert_allclose(mixing, 1000.0 * epsilon * r, rtol=1e-12)
    e_eff = x * 100.0 * pressures_hpa
    rho = absolute_humidity_g_m3(temperatures_c, rh_pct, pressures_hpa)
    expected_rho = (
        e_eff
        * MOLAR_MASS_WATER_G_PER_MOL
        / (MOLAR_GAS_CONSTANT_J_PER_MOL_K * (temperatures_c + 273.15))
    )
    np.testing.assert_allclose(rho, expected_rho, rtol=1e-12)
    assert epsilon == pytest.approx(0.621957, abs=1e-6)


@given(
    st.floats(min_value=-80.0, max_value=40.0),
    st.floats(min_value=2.0, max_value=90.0),
    st.floats(min_value=200.0, max_value=1100.0),
    st.floats(min_value=200.0, max_value=1100.0),
)
def test_ppmv_falls_as_pressure_rises(
    temperature_c: float, rh_pct: float, p1: float, p2: float
) -> None:
    low, high = sorted((p1, p2))
    assume(high - low > 1.0)
    # Same air: a higher total pressure dilutes the same vapour pressure.
    assert ppmv(temperature_c, rh_pct, high) < ppmv(temperature_c, rh_pct, low)


def test_water_content_nan_and_range() -> None:
    result = ppmv(np.array([-70.0, math.nan]), 5.0)
    assert math.isfinite(result[0])
    assert math.isnan(result[1])
    with pytest.raises(HumidityRangeError, match=r"pressure 1500 hPa"):
        ppmv(20.0, 50.0, 1500.0)
    with pytest.raises(HumidityRangeError, match=r"Hyland & Wexler"):
        ppmv(-70.0, 5.0, formulation="hyland_wexler1983")


# === validity masks ==========================================================================


def test_valid_input_mask_flags_the_bad_elements_only() -> None:
    temperatures_c = np.array([-70.0, -70.0, 20.0, math.nan, -120.0, 20.0, -95.0])
    rh_pct = np.array([5.0, 0.0, 150.0, 5.0, 5.0, 50.0, 0.01])
    mask = valid_input_mask(temperatures_c, rh_pct)
    assert mask.tolist() == [True, False, True, True, False, True, False]
    good = frost_dew_point_c(temperatures_c[mask], rh_pct[mask])
    assert np.isnan(good[2]) and np.isfinite(good[[0, 1, 3]]).all()
    frost_only = valid_input_mask(temperatures_c, rh_pct, quantity="frost_point")
    assert frost_only.tolist() == [True, False, False, True, False, False, False]
    pressure_mask = valid_input_mask(
        np.array([20.0, 20.0]), 50.0, quantity="ppmv", pressure_hpa=np.array([1013.25, 1200.0])
    )
    assert pressure_mask.tolist() == [True, False]
    with pytest.raises(ValueError, match="unknown quantity"):
        valid_input_mask(20.0, 50.0, quantity="kelvin")  # type: ignore[arg-type]


def _raises(call: Callable[[], object]) -> bool:
    try:
        call()
    except HumidityRangeError:
        return True
    return False


QUANTITY_FUNCTIONS: dict[str, Callable[..., object]] = {
    "dew_point": dew_point_c,
    "frost_point": frost_point_c,
    "frost_dew_point": frost_dew_point_c,
    "ppmv": ppmv,
}


@given(
    st.sampled_from(ALL_FORMULATIONS),
    st.sampled_from(sorted(QUANTITY_FUNCTIONS)),
    st.floats(min_value=-130.0, max_value=120.0),
    st.floats(min_value=-5.0, max_value=200.0),
    st.floats(min_value=100.0, max_value=1300.0),
)
def test_valid_input_mask_predicts_range_errors(
    formulation: Formulation,
    quantity: Quantity,
    temperature_c: float,
    rh_pct: float,
    pressure_hpa: float,
) -> None:
    function = QUANTITY_FUNCTIONS[quantity]
    if quantity == "ppmv":

        def call() -> object:
            return function(temperature_c, rh_pct, pressure_hpa, formulation=formulation)
    else:

        def call() -> object:
            return function(temperature_c, rh_pct, formulation=formulation)

    mask = valid_input_mask(
        temperature_c, rh_pct, quantity=quantity, pressure_hpa=pressure_hpa, formulation=formulation
    )
    assert bool(mask) == (not _raises(call))


# === uncertainty =============================================================================


def central_difference(function: Callable[[float], float], x: float, h: float) -> float:
    return (function(x + h) - function(x - h)) / (2.0 * h)


@pytest.mark.parametrize("formulation", SUPERCOOLED_FORMULATIONS)
@pytest.mark.parametrize(
    ("temperature_c", "rh_pct"), [(-70.0, 5.0), (-70.0, 1.0), (-40.0, 30.0), (-5.0, 80.0)]
)
def test_frost_point_sensitivities_match_numerical_derivatives(
    formulation: Formulation, temperature_c: float, rh_pct: float
) -> None:
    c_t = central_difference(
        lambda t: frost_point_c(t, rh_pct, formulation=formulation), temperature_c, 1e-3
    )
    c_rh = central_difference(
        lambda rh: frost_point_c(temperature_c, rh, formulation=formulation), rh_pct, 1e-4 * rh_pct
    )
    # One input at a time, both at k = 2 in and out: the result is |c| U.
    only_t = frost_point_uncertainty_k(temperature_c, rh_pct, 0.1, 0.0, formulation=formulation)
    only_rh = frost_point_uncertainty_k(temperature_c, rh_pct, 0.0, 1.0, formulation=formulation)
    assert only_t == pytest.approx(abs(c_t) * 0.1, rel=1e-6)
    assert only_rh == pytest.approx(abs(c_rh) * 1.0, rel=1e-6)
    both = frost_point_uncertainty_k(temperature_c, rh_pct, 0.1, 1.0, formulation=formulation)
    assert both == pytest.approx(math.hypot(c_t * 0.1, c_rh * 1.0), rel=1e-6)


@pytest.mark.parametrize(("temperature_c", "rh_pct"), [(-70.0, 5.0), (-20.0, 40.0), (23.0, 50.0)])
def test_frost_dew_point_sensitivities_match_numerical_derivatives(
    temperature_c: float, rh_pct: float
) -> None:
    c_t = central_difference(lambda t: frost_dew_point_c(t, rh_pct), temperature_c, 1e-3)
    c_rh = central_difference(lambda rh: frost_dew_point_c(temperature_c, rh), rh_pct, 1e-3)
    value = frost_dew_point_uncertainty_k(temperature_c, rh_pct, 0.2, 2.0)
    assert value == pytest.approx(math.hypot(c_t * 0.2, c_rh * 2.0), rel=1e-6)


@pytest.mark.parametrize(
    ("temperature_c", "rh_pct", "pressure_hpa"),
    [(-70.0, 5.0, 1013.25), (-40.0, 20.0, 900.0), (-10.0, 60.0, 1013.25), (23.0, 50.0, 1000.0)],
)
def test_ppmv_sensitivities_match_numerical_derivatives(
    temperature_c: float, rh_pct: float, pressure_hpa: float
) -> None:
    c_t = central_difference(lambda t: ppmv(t, rh_pct, pressure_hpa), temperature_c, 1e-3)
    c_rh = central_difference(lambda rh: ppmv(temperature_c, rh, pressure_hpa), rh_pct, 1e-3)
    c_p = central_difference(lambda p: ppmv(temperature_c, rh_pct, p), pressure_hpa, 1e-2)

    def u(u_t: float, u_rh: float, u_p: float) -> float:
        return ppmv_uncertainty(temperature_c, rh_pct, u_t, u_rh, pressure_hpa, u_pressure_hpa=u_p)

    assert u(0.1, 0.0, 0.0) == pytest.approx(abs(c_t) * 0.1, rel=1e-5)
    assert u(0.0, 1.0, 0.0) == pytest.approx(abs(c_rh) * 1.0, rel=1e-5)
    assert u(0.0, 0.0, 0.5) == pytest.approx(abs(c_p) * 0.5, rel=1e-4)
    combined = math.sqrt((c_t * 0.1) ** 2 + (c_rh * 1.0) ** 2 + (c_p * 0.5) ** 2)
    assert u(0.1, 1.0, 0.5) == pytest.approx(combined, rel=1e-5)


def test_uncertainty_at_minus_70_and_coverage_factors() -> None:
    # U_T = 0.1 K and U_RH = 1 %RH, both expanded at k = 2, out at k = 2.
    expanded = frost_point_uncertainty_k(-70.0, 5.0, 0.1, 1.0)
    assert expanded == pytest.approx(1.1644, abs=1e-3)
    # The same numbers read as standard uncertainties (k = 1) double the result.
    as_standard = frost_point_uncertainty_k(-70.0, 5.0, 0.1, 1.0, k_temperature=1.0, k_rh=1.0)
    assert as_standard == pytest.approx(2.0 * expanded, rel=1e-12)
    # Output at k = 1 is the combined standard uncertainty.
    assert frost_point_uncertainty_k(-70.0, 5.0, 0.1, 1.0, 1.0) == pytest.approx(
        expanded / 2.0, rel=1e-12
    )
    assert ppmv_uncertainty(-70.0, 5.0, 0.1, 1.0) == pytest.approx(0.0517, abs=2e-4)
    result = frost_point_uncertainty_k(np.array([-70.0, -60.0]), 5.0, 0.1, np.array([1.0, 2.0]))
    assert isinstance(result, np.ndarray)
    assert result.shape == (2,)
    with pytest.raises(ValueError, match="coverage factor"):
        frost_point_uncertainty_k(-70.0, 5.0, 0.1, 1.0, k_rh=0.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        frost_point_uncertainty_k(-70.0, 5.0, -0.1, 1.0)


# === the package =============================================================================


def test_the_package_imports_nothing_of_loggerd_outside_itself() -> None:
    # Pure physics: the simulator and the pipeline both build on it, so it may lean on neither.
    ours = ("loggerd", "loggerd_protocol", "loggerd_drivers", "loggerd_sim")
    for path in Path(humidity.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in ours:
                    assert module.startswith(f"{humidity.__name__}."), f"{path.name}: {module}"


def test_a_vectorised_function_must_take_the_parameters_of_its_call() -> None:
    # The decorator's result is cast to its call's Protocol; this check stands in for mypy.
    from loggerd.processing.humidity._arrays import FloatArray, vectorised
    from loggerd.processing.humidity._calls import AirCall

    def dew(temperature_c: FloatArray, rh_pct: FloatArray, *, formulation: str = "") -> FloatArray:
        return temperature_c - rh_pct

    def renamed(temperature_c: FloatArray, rh: FloatArray, *, formulation: str = "") -> FloatArray:
        return temperature_c - rh

    def bare(temperature_c: FloatArray, rh_pct: FloatArray, *, formulation: str) -> FloatArray:
        return temperature_c - rh_pct

    def scalar_rh(temperature_c: FloatArray, rh_pct: float, *, formulation: str = "") -> FloatArray:
        return temperature_c - rh_pct

    assert vectorised(AirCall)(dew)(20.0, 5.0) == 15.0
    with pytest.raises(TypeError, match="renamed does not take the parameters of"):
        vectorised(AirCall)(renamed)
    with pytest.raises(TypeError, match="gives bare a default it does not have"):
        vectorised(AirCall)(bare)
    with pytest.raises(TypeError, match="scalar_rh is not vectorised in the inputs"):
        vectorised(AirCall)(scalar_rh)

"""Tests for loggerd.humidity: published reference values, inversions and properties."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loggerd.humidity import (
    HumidityRangeError,
    Phase,
    dew_point_c,
    frost_dew_point_c,
    frost_point_c,
    rh_from_frost_point_pct,
    rh_over_ice_pct,
    saturation_vapour_pressure_pa,
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

"""Tests for the simulated chamber's physics and the profiles that drive it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from loggerd.processing.humidity import (
    frost_dew_point_c,
    rh_from_frost_point_pct,
    saturation_vapour_pressure_pa,
)
from loggerd_sim.chamber import Chamber, ChamberState
from loggerd_sim.profile import (
    Profile,
    ProfileError,
    RampStep,
    SoakStep,
    builtin_profile,
    load_profile,
    parse_profile,
)

# Cold soak timeline (profiles/cold_soak.toml): 47.5 min ramp, 120 min soak, 47.5 min ramp.
SOAK_START_S = 47.5 * 60
SOAK_END_S = SOAK_START_S + 120 * 60


def shipped_profile(name: str) -> Profile:
    return builtin_profile(name)


def run(chamber: Chamber, end_s: float, every_s: float = 1.0) -> list[ChamberState]:
    """The chamber's state at every `every_s` seconds from 0 to `end_s` inclusive."""
    count = math.floor(end_s / every_s)
    return [chamber.advance_to(i * every_s) for i in range(count + 1)]


@pytest.fixture(scope="module")
def cold_soak_run() -> list[ChamberState]:
    profile = shipped_profile("cold_soak")
    return run(Chamber(profile, seed=3), profile.duration_s + 1800.0)


@pytest.fixture(scope="module")
def quick_run() -> list[ChamberState]:
    profile = shipped_profile("quick")
    return run(Chamber(profile, seed=3), profile.duration_s + 1800.0)


def air(states: list[ChamberState]) -> npt.NDArray[np.float64]:
    return np.array([s.air_temperature_c for s in states])


def window(states: list[ChamberState], start_s: float, end_s: float) -> list[ChamberState]:
    return [s for s in states if start_s <= s.time_s < end_s]


# --- air temperature ------------------------------------------------------------------------


def test_air_rate_never_exceeds_machine_limits(quick_run: list[ChamberState]) -> None:
    # quick.toml asks 10 K/min, more than the default 5 K/min cooling and 8 K/min heating.
    rates_k_per_min = np.diff(air(quick_run)) * 60.0
    assert rates_k_per_min.min() >= -5.0 - 1e-9
    assert rates_k_per_min.max() <= 8.0 + 1e-9
    # The limits were reached, so they are what held the air back.
    assert rates_k_per_min.min() < -4.99
    assert rates_k_per_min.max() > 7.99


def test_rate_limits_are_parameters() -> None:
    chamber = Chamber(
        shipped_profile("quick"), max_cooling_rate_k_per_min=3.0, max_heating_rate_k_per_min=4.0
    )
    rates_k_per_min = np.diff(air(run(chamber, 1800.0))) * 60.0
    assert -3.0 - 1e-9 <= rates_k_per_min.min() < -2.99
    assert 3.99 < rates_k_per_min.max() <= 4.0 + 1e-9


def test_air_tracks_a_ramp_within_its_rate(cold_soak_run: list[ChamberState]) -> None:
    ramp = air(window(cold_soak_run, 600.0, SOAK_START_S))
    # Inside the machine's limits the air follows the 2 K/min programme, a little behind it.
    assert np.abs(np.diff(ramp) * 60.0 + 2.0).max() < 0.01
    assert cold_soak_run[2400].air_temperature_c - (25.0 - 2.0 * 40.0) == pytest.approx(
        1.34, abs=0.05
    )


def test_air_reaches_and_holds_the_soak_setpoint(cold_soak_run: list[ChamberState]) -> None:
    settled = air(window(cold_soak_run, SOAK_START_S + 15 * 60, SOAK_END_S))
    assert np.abs(settled + 70.0).max() < 0.01


def test_overshoot_after_a_ramp_is_small(cold_soak_run: list[ChamberState]) -> None:
    temperatures_c = air(cold_soak_run)
    assert -70.5 < temperatures_c.min() < -70.0
    assert 25.0 < temperatures_c.max() < 25.5


def test_overshoot_after_a_rate_limited_approach_is_small(quick_run: list[ChamberState]) -> None:
    assert air(quick_run).max() < 25.0 + 1.0


# --- humidity -------------------------------------------------------------------------------


def test_humidity_is_consistent(cold_soak_run: list[ChamberState]) -> None:
    sample = cold_soak_run[::30]
    temperatures_c = air(sample)
    frost_points_c = np.array([s.frost_point_c for s in sample])
    rh_pct = np.array([s.rh_pct for s in sample])
    np.testing.assert_allclose(
        rh_from_frost_point_pct(temperatures_c, frost_points_c), rh_pct, rtol=0, atol=1e-6
    )
    # And the other way round, as a logger would compute its Td/f from T and RH.
    np.testing.assert_allclose(
        frost_dew_point_c(temperatures_c, rh_pct), frost_points_c, rtol=0, atol=1e-6
    )


def test_frost_point_never_above_air(
    cold_soak_run: list[ChamberState], quick_run: list[ChamberState]
) -> None:
    for state in cold_soak_run + quick_run:
        assert state.frost_point_c <= state.air_temperature_c
        assert 0.0 < state.rh_pct <= 100.0


def test_cold_soak_is_dry(cold_soak_run: list[ChamberState]) -> None:
    # The dryer drives the frost point towards -80 °C with a 10 min lag: by the end of the
    # 2 h soak at -70 °C the air is at a few %RH (w.r.t. water), far below ice saturation.
    end = window(cold_soak_run, SOAK_END_S - 60, SOAK_END_S)
    assert all(s.frost_point_c == pytest.approx(-80.0, abs=0.2) for s in end)
    assert all(8.0 < s.rh_pct < 13.0 for s in end)


def test_excess_water_freezes_out_at_ice_saturation() -> None:
    profile = parse_profile(
        """
        name = "frosting"
        start_temperature_c = -70.0
        start_frost_point_c = -75.0
        [[step]]
        kind = "soak"
        duration_min = 120
        frost_point_c = -60.0
        """
    )
    state = Chamber(profile).advance_to(3600.0)
    ice_saturation_rh_pct = 100.0 * (
        saturation_vapour_pressure_pa(-70.0, "ice") / saturation_vapour_pressure_pa(-70.0)
    )
    # A -60 °C target is above -70 °C air: frost forms and holds the air at ice saturation.
    assert state.frost_point_c == state.air_temperature_c
    assert state.rh_pct == pytest.approx(ice_saturation_rh_pct, abs=0.01)


def test_excess_water_condenses_at_water_saturation_above_zero() -> None:
    profile = parse_profile(
        """
        name = "humid"
        start_temperature_c = 20.0
        start_frost_point_c = 10.0
        [[step]]
        kind = "soak"
        duration_min = 120
        frost_point_c = 30.0
        """
    )
    state = Chamber(profile).advance_to(3600.0)
    assert state.frost_point_c == state.air_temperature_c == 20.0
    assert state.rh_pct == pytest.approx(100.0, abs=1e-9)


def test_frost_point_follows_its_target_with_a_ten_minute_lag() -> None:
    profile = parse_profile(
        """
        name = "drying"
        start_temperature_c = 25.0
        start_frost_point_c = 10.0
        [[step]]
        kind = "soak"
        duration_min = 60
        frost_point_c = -20.0
        """
    )
    chamber = Chamber(profile)
    assert chamber.advance_to(600.0).frost_point_c == pytest.approx(-20.0 + 30.0 / math.e, abs=1e-6)
    assert chamber.advance_to(3600.0).frost_point_c == pytest.approx(-20.0, abs=0.1)


# --- channels -------------------------------------------------------------------------------


def test_channel_gradient_is_steady_during_a_soak(cold_soak_run: list[ChamberState]) -> None:
    soak = window(cold_soak_run, SOAK_START_S + 15 * 60, SOAK_END_S)
    offsets_k = np.array([s.channel_temperatures_c for s in soak]) - air(soak)[:, None]
    half = len(offsets_k) // 2
    first_means_k = offsets_k[:half].mean(axis=0)
    second_means_k = offsets_k[half:].mean(axis=0)
    np.testing.assert_allclose(first_means_k, second_means_k, atol=0.03)
    # The offsets are a spatial gradient of up to about 1 K at -70 °C, different per channel.
    assert np.abs(first_means_k).max() <= 1.1
    assert first_means_k.max() - first_means_k.min() > 0.3
    # Around those means, fluctuations of a few hundredths of a kelvin.
    noise_std_k = (offsets_k - offsets_k.mean(axis=0)).std(axis=0)
    assert np.all((noise_std_k > 0.015) & (noise_std_k < 0.05))


def test_gradient_grows_away_from_ambient(cold_soak_run: list[ChamberState]) -> None:
    def mean_abs_offset_k(states: list[ChamberState]) -> float:
        offsets_k = np.array([s.channel_temperatures_c for s in states]) - air(states)[:, None]
        return float(np.abs(offsets_k.mean(axis=0)).mean())

    at_start_k = mean_abs_offset_k(cold_soak_run[:120])
    in_soak_k = mean_abs_offset_k(window(cold_soak_run, SOAK_START_S + 900, SOAK_END_S))
    assert in_soak_k / at_start_k == pytest.approx(1.005 / 0.296, rel=0.15)


def test_channel_count() -> None:
    state = Chamber(shipped_profile("quick"), channel_count=3).advance_to(10.0)
    assert len(state.channel_temperatures_c) == 3


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_states() -> None:
    profile = shipped_profile("quick")
    assert run(Chamber(profile, seed=11), 900.0, 7.0) == run(Chamber(profile, seed=11), 900.0, 7.0)


def test_different_seeds_differ_only_in_the_channels() -> None:
    profile = shipped_profile("quick")
    state_a = Chamber(profile, seed=1).advance_to(600.0)
    state_b = Chamber(profile, seed=2).advance_to(600.0)
    assert state_a.channel_temperatures_c != state_b.channel_temperatures_c
    assert state_a.air_temperature_c == state_b.air_temperature_c
    assert state_a.frost_point_c == state_b.frost_point_c


@pytest.mark.parametrize("step_s", [1.0, 0.1])
def test_call_pattern_does_not_change_the_states(step_s: float) -> None:
    # 5000 steps cross the boundary of a pre-drawn noise block (4096 steps).
    end_s = 5000.0 * step_s
    profile = shipped_profile("cold_soak")
    one_jump = Chamber(profile, seed=5, step_s=step_s).advance_to(end_s)
    every_step = run(Chamber(profile, seed=5, step_s=step_s), end_s, step_s)[-1]
    irregular = Chamber(profile, seed=5, step_s=step_s)
    for fraction in (0.0, 0.00003, 0.2, 0.2, 0.4096, 0.41, 0.8191, 0.99999):
        irregular.advance_to(fraction * end_s)
    assert one_jump == every_step == irregular.advance_to(end_s)
    assert one_jump.time_s == pytest.approx(end_s)


def test_state_is_at_the_last_whole_step() -> None:
    chamber = Chamber(shipped_profile("quick"), step_s=2.0)
    assert chamber.state.time_s == 0.0
    assert chamber.state.air_temperature_c == 25.0
    assert chamber.advance_to(5.9).time_s == 4.0
    assert chamber.state == chamber.advance_to(5.95)


def test_speed_runs_the_programme_faster_than_the_time_it_is_advanced_to() -> None:
    """At speed 60 a second of the loggers' time is a minute of the programme, step by step
    the same states as the programme run at its own pace."""
    fast = Chamber(shipped_profile("quick"), seed=5, speed=60.0)
    slow = Chamber(shipped_profile("quick"), seed=5)
    assert fast.advance_to(10.0) == slow.advance_to(600.0)
    assert fast.advance_to(10.5).time_s == 630.0


def test_never_goes_back() -> None:
    chamber = Chamber(shipped_profile("quick"))
    chamber.advance_to(100.0)
    chamber.advance_to(100.0)
    with pytest.raises(ValueError, match="cannot go back"):
        chamber.advance_to(99.5)
    with pytest.raises(ValueError, match="finite"):
        chamber.advance_to(math.nan)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channel_count": 0},
        {"step_s": 0.0},
        {"step_s": math.inf},
        {"max_cooling_rate_k_per_min": 0.0},
        {"max_heating_rate_k_per_min": -1.0},
        {"speed": 0.0},
    ],
)
def test_constructor_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Chamber(shipped_profile("quick"), **kwargs)  # type: ignore[arg-type]


# --- profiles -------------------------------------------------------------------------------


def test_shipped_profiles() -> None:
    cold_soak = shipped_profile("cold_soak")
    assert cold_soak.duration_s == pytest.approx((47.5 + 120 + 47.5) * 60)
    assert cold_soak.setpoint_at(0.0) == (25.0, -80.0)
    assert cold_soak.setpoint_at(SOAK_START_S + 60) == (-70.0, -80.0)
    assert cold_soak.setpoint_at(SOAK_END_S + 60) == (-68.0, 10.0)
    assert cold_soak.setpoint_at(1e9) == (25.0, 10.0)
    quick = shipped_profile("quick")
    assert quick.duration_s == pytest.approx((6.5 + 5 + 6.5) * 60)
    assert quick.setpoint_at(6.5 * 60)[0] == -40.0


def test_setpoint_timeline() -> None:
    profile = Profile(
        name="steps",
        start_temperature_c=20.0,
        start_frost_point_c=0.0,
        steps=(
            RampStep(temperature_c=30.0, rate_k_per_min=1.0),
            RampStep(temperature_c=30.0, rate_k_per_min=1.0, frost_point_c=5.0),
            SoakStep(duration_min=10.0),
            RampStep(temperature_c=10.0, rate_k_per_min=4.0, frost_point_c=-5.0),
        ),
    )
    assert profile.duration_s == (10 + 10 + 5) * 60
    assert profile.setpoint_at(-10.0) == (20.0, 0.0)
    assert profile.setpoint_at(300.0) == (25.0, 0.0)
    # The zero-length ramp to 30 °C only changes the frost point target, which then holds.
    assert profile.setpoint_at(600.0) == (30.0, 5.0)
    assert profile.setpoint_at(900.0) == (30.0, 5.0)
    assert profile.setpoint_at(1200.0 + 150.0) == (20.0, -5.0)
    assert profile.setpoint_at(1e6) == (10.0, -5.0)


def test_load_profile_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "p"\nstart_temperature_c = 20\nstart_frost_point_c = 5\n'
        '[[step]]\nkind = "soak"\nduration_min = 1\n',
        encoding="utf-8",
    )
    assert load_profile(path).duration_s == 60.0
    with pytest.raises(ProfileError, match=r"missing\.toml: cannot read the profile"):
        load_profile(tmp_path / "missing.toml")


VALID_HEAD = 'name = "t"\nstart_temperature_c = 25.0\nstart_frost_point_c = 10.0\n'


# Every error is one line: file, line, the step (0-based, as in the file's order) and key.
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[[step]]\nkind = "soak"\nduration_min = 5\n'
            '[[step]]\nkind = "ramp"\ntemperature_c = -40.0\n',
            "test.toml:7: step[1].rate_k_per_min: Field required",
        ),
        (
            '[[step]]\nkind = "ramp"\ntemperature_c = -40.0\nrate_k_per_minute = 2.0\n',
            "test.toml:4: step[0].rate_k_per_min: Field required\n"
            "test.toml:7: step[0].rate_k_per_minute: unknown key (check the spelling)",
        ),
        (
            '[[step]]\nkind = "ramp"\ntemperature_c = -40.0\nrate_k_per_min = -2.0\n',
            "test.toml:7: step[0].rate_k_per_min: must be a finite number > 0 K/min, got -2.0",
        ),
        (
            '[[step]]\nkind = "ramp"\ntemperature_c = "cold"\nrate_k_per_min = 2.0\n',
            "test.toml:6: step[0].temperature_c: Input should be a valid number (got 'cold')",
        ),
        (
            '[[step]]\nkind = "soak"\nduration_min = true\n',
            "test.toml:6: step[0].duration_min: Input should be a valid number (got True)",
        ),
        (
            '[[step]]\nkind = "hold"\nduration_min = 5\n',
            "test.toml:5: step[0].kind: must be one of 'ramp', 'soak' (got 'hold')",
        ),
        (
            '[[step]]\nkind = "ramp"\ntemperature_c = -150.0\nrate_k_per_min = 2.0\n',
            "test.toml:6: step[0].temperature_c: must be a temperature from -95 °C to +95 °C, "
            "got -150.0",
        ),
        (
            '[[step]]\nkind = "soak"\nduration_min = 5\nfrost_point_c = nan\n',
            "test.toml:7: step[0].frost_point_c: must be a temperature from -95 °C to +95 °C, "
            "got nan",
        ),
        ("", "test.toml: step: expected at least one [[step]] table, found none"),
        (
            '[step]\nkind = "soak"\nduration_min = 5\n',
            "test.toml:4: step: must be an array of tables written as [[step]], not a [step] table",
        ),
    ],
)
def test_profile_errors_name_the_line_step_and_key(body: str, expected: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(VALID_HEAD + body, source="test.toml")
    assert str(info.value) == expected


def test_a_profile_that_is_not_toml_says_where() -> None:
    with pytest.raises(ProfileError, match=r"^test\.toml: not valid TOML: .*\(at line 7, column"):
        parse_profile(
            VALID_HEAD + '[[step]]\nkind = "soak"\nduration_min = 5\nbad toml\n', "test.toml"
        )


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            'name = " "\nstart_temperature_c = 25.0\nstart_frost_point_c = 10.0\n',
            "t.toml:1: name: must be a non-empty string, got ' '",
        ),
        (
            "start_temperature_c = 25.0\nstart_frost_point_c = 10.0\n",
            "t.toml: name: Field required",
        ),
        ('name = "t"\nstart_frost_point_c = 10.0\n', "t.toml: start_temperature_c: Field required"),
        (
            'name = "t"\nstart_temperature_c = 5.0\nstart_frost_point_c = 10.0\n',
            "t.toml:3: start_frost_point_c: must not exceed 'start_temperature_c' (air cannot "
            "hold more water than saturation), got 10 °C > 5 °C",
        ),
        (VALID_HEAD + "colour = 1\n", "t.toml:4: colour: unknown key (check the spelling)"),
    ],
)
def test_profile_errors_at_top_level(head: str, expected: str) -> None:
    body = '[[step]]\nkind = "soak"\nduration_min = 5\n'
    with pytest.raises(ProfileError) as info:
        parse_profile(head + body, source="t.toml")
    assert str(info.value) == expected


def test_profile_error_is_a_value_error() -> None:
    assert issubclass(ProfileError, ValueError)

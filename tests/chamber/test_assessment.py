"""A simulated cold soak judged against its profile: a ramp to -70 °C, a soak, a return.

The chamber is made by hand so the answers are known: it follows the ramp 0.5 K behind the
setpoint line, settles at -70.3 °C at the centre (-69.8 and -70.6 at two other points) with a
±0.2 K swing, and comes back. Every figure below follows from those numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from loggerd.chamber.assessment import QuantitySeries, RampResult, SoakResult, assess
from loggerd.chamber.windows import on_grid
from loggerd.core.profiles import parse_profile


def temp(setpoint: float, tolerance: float) -> dict[str, float]:
    return {"setpoint": setpoint, "tolerance": tolerance}


PROFILE = parse_profile(
    {
        "segments": [
            {"kind": "soak", "duration_s": 1800, "temperature_c": temp(20, 2)},
            {"kind": "ramp", "duration_s": 5400, "temperature_c": temp(-70, 3)},
            {"kind": "soak", "duration_s": 14400, "temperature_c": temp(-70, 2)},
            {"kind": "ramp", "duration_s": 5400, "temperature_c": temp(20, 3)},
        ]
    }
)
OFFSETS = np.array([-0.3, 0.2, -0.6])  # centre, point 2, point 3 at -70 °C


def chamber(times_s: np.ndarray) -> np.ndarray:
    line = np.array([PROFILE.setpoint_at("temperature_c", t) for t in times_s])
    cold = np.clip((20 - line) / 90, 0, 1)  # 0 at 20 °C, 1 at -70 °C
    lag = np.where((times_s >= 1800) & (times_s < 7200), 0.5, 0.0)  # behind on the way down
    lag = np.where(times_s >= 21600, -0.5, lag)  # and on the way up
    swing = 0.2 * np.sin(2 * np.pi * times_s / 600)
    return (line + lag + swing)[:, None] + cold[:, None] * OFFSETS[None, :]


def test_the_cold_soak_is_judged_segment_by_segment() -> None:
    t = np.arange(0, PROFILE.duration_s, 10.0)
    series = QuantitySeries(t, chamber(t), ("t_centre", "t_top", "t_bottom"), 0, 0.1, 0.01)
    a = assess(PROFILE, {"temperature_c": series}, family="gb_t_5170", rule="guarded")
    assert [s.kind for s in a.segments] == ["soak", "ramp", "soak", "ramp"]

    (down,) = a.segments[1].results
    assert isinstance(down, RampResult)
    assert down.required_rate_per_min == pytest.approx(-1.0)
    assert down.rate.span_rate_per_min == pytest.approx(-1.0, abs=0.05)
    # The centre's lag and swing, at the ramp's start where its cold offset is still 0.
    assert down.tracking_error_max == pytest.approx(0.5 + 0.2, abs=0.02)
    assert down.verdict == "pass"

    (cold,) = a.segments[2].results
    assert isinstance(cold, SoakResult) and cold.statistics is not None
    assert cold.stabilisation.time_s is not None and 7200 < cold.stabilisation.time_s < 7200 + 3700
    assert cold.readings_scheduled == 30 and cold.schedule.interval_s == 60
    s = cold.statistics
    assert s.deviation_max == pytest.approx(0.2 + 0.2, abs=0.02)  # top point at its swing's peak
    assert s.deviation_min == pytest.approx(-0.6 - 0.2, abs=0.02)
    assert s.fluctuation == pytest.approx(0.2, abs=0.02)
    assert s.gradient == pytest.approx(0.8, abs=0.05)
    assert cold.uncertainty is not None
    assert cold.uncertainty.measurement_u == pytest.approx(2 * np.hypot(0.05, 0.01 / np.sqrt(12)))
    assert cold.verdict == "pass" and a.segments[2].verdict == "pass"


def test_a_soak_never_within_its_tolerance_is_never_stable_and_fails() -> None:
    t = np.arange(0, PROFILE.duration_s, 10.0)
    values = chamber(t)
    values[:, 2] -= 1.8  # the bottom point 2.4 ± 0.2 K below the setpoint at -70 °C
    series = QuantitySeries(t, values, ("c", "t", "b"), 0, 0.1, 0.01)
    a = assess(PROFILE, {"temperature_c": series}, family="gb_t_5170")
    (cold,) = a.segments[2].results
    assert isinstance(cold, SoakResult)
    # Never within ±2 K at every point: never stable, so the soak fails.
    assert cold.stabilisation.index is None and cold.verdict == "fail"
    assert a.verdict == "fail"


def test_points_polled_at_different_phases_line_up_on_one_grid() -> None:
    start = 1_780_000_000_000_000
    a = (start + np.arange(0, 60) * 1_000_000 + 300_000, np.arange(60.0))
    b = (start + np.arange(0, 60) * 1_000_000 + 700_000, np.arange(60.0) * 2)
    times, grid = on_grid([a, b], start, start + 60_000_000, 1.0)
    assert times[:3].tolist() == [0.0, 1.0, 2.0] and grid.shape == (60, 2)
    assert grid[5, 0] == 5.0  # 5.3 s rounds to 5
    assert grid[6, 1] == 10.0  # 5.7 s rounds to 6
    assert np.isnan(grid[0, 1])  # nothing near 0 s for b
